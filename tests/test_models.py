"""kreg.models: the lectures' architectures."""

import keras
import numpy as np
import pytest

from kreg import models


def test_stat453_mlp_shapes():
    m = models.mlp((28, 28, 1), 10)
    dense = [layer for layer in m.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [75, 45, 10]
    assert m.count_params() == 784 * 75 + 75 + 75 * 45 + 45 + 45 * 10 + 10
    assert m.output_shape == (None, 10)


def test_mlp_options():
    m = models.mlp((8, 8, 1), 10, hidden=(16,), dropout=0.5, batchnorm=True, activation="tanh",
                   kernel_regularizer=keras.regularizers.L2(1e-3))
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == ["Flatten", "Dense", "BatchNormalization", "Activation", "Dropout", "Dense"]
    assert m.layers[1].use_bias is False  # bias is redundant before batch norm
    assert len(m.losses) == 2


def test_cnn_and_softmax_regression_fit_one_step():
    x = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    y = np.arange(8) % 10
    for m in (models.cnn((8, 8, 1), 10), models.softmax_regression((8, 8, 1), 10)):
        models.compile_classifier(m, learning_rate=0.01)
        h = m.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert np.isfinite(h.history["loss"][0])


@pytest.mark.parametrize("kwargs,match", [({"hidden": (0,)}, "hidden"), ({"dropout": 1.0}, "dropout"),
                                          ({"num_classes": 0}, "num_classes")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"argument `{match}`"):
        models.mlp((4,), **{"num_classes": 3, **kwargs})
