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


def test_mlp_folds_each_activation_into_its_dense_layer_unless_asked_or_needed():
    m = models.mlp((8, 8, 1), 10, hidden=(16, 12), activation="tanh")
    assert [type(layer).__name__ for layer in m.layers] == ["Flatten", "Dense", "Dense", "Dense"]
    assert [layer.activation.__name__ for layer in m.layers[1:]] == ["tanh", "tanh", "linear"]
    sep = models.mlp((8, 8, 1), 10, hidden=(16, 12), activation="tanh", activation_layers=True)
    assert [type(layer).__name__ for layer in sep.layers] == ["Flatten", "Dense", "Activation", "Dense",
                                                              "Activation", "Dense"]
    assert all(layer.activation.__name__ == "linear" for layer in sep.layers if isinstance(layer, keras.layers.Dense))
    # a dense_layer callable (DropConnect, a wrapper) and batch norm keep the activation a layer of its own
    for kw in ({"dense_layer": lambda units, **k: keras.layers.Dense(units, **k)}, {"batchnorm": True}):
        kinds = [type(layer).__name__ for layer in models.mlp((4,), 3, hidden=(5,), **kw).layers]
        assert kinds.count("Activation") == 1, (kw, kinds)
    with pytest.raises(TypeError, match=r"argument `activation_layers`.*Received: activation_layers='yes'"):
        models.mlp((4,), 3, activation_layers="yes")


def test_mlp_with_folded_activations_computes_and_trains_as_with_activation_layers():
    rng = np.random.default_rng(3)
    x, y = rng.random((32, 6, 6)).astype("float32"), rng.integers(0, 4, 32)
    nets = []
    for separate in (False, True):
        keras.utils.set_random_seed(11)  # the same kernels drawn: Activation layers draw nothing
        nets.append(models.compile_classifier(
            models.mlp((6, 6), 4, hidden=(10, 7), init="torch", activation_layers=separate), learning_rate=0.5))
    folded, separate = nets
    for a, b in zip(folded.get_weights(), separate.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(folded.predict_on_batch(x), separate.predict_on_batch(x), rtol=1e-6, atol=1e-6)
    before = folded.get_weights()
    for net in nets:
        net.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert min(np.abs(a - b).max() for a, b in zip(folded.get_weights(), before)) > 1e-4  # training moved all
    for a, b in zip(folded.get_weights(), separate.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs,match", [({"hidden": (0,)}, "hidden"), ({"dropout": 1.0}, "dropout"),
                                          ({"num_classes": 0}, "num_classes")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"argument `{match}`"):
        models.mlp((4,), **{"num_classes": 3, **kwargs})


# ---------------------------------------------------------------- issue 14, defect 14: bad input named


@pytest.mark.parametrize(
    "make,arg,received",
    [
        (lambda: models.cnn((8, 8, 1), filters=16), "filters", "filters=16"),  # was TypeError: int not iterable
        (lambda: models.cnn((40,)), "input_shape", "input_shape=(40,)"),  # was IndexError
        (lambda: models.mlp(28), "input_shape", "input_shape=28"),  # was TypeError
        (lambda: models.mlp((4, 0)), "input_shape", "input_shape=(4, 0)"),
        (lambda: models.softmax_regression("28"), "input_shape", "input_shape='28'"),
        (lambda: models.mlp((4,), activation="nope"), "activation", "activation='nope'"),
        (lambda: models.mlp((4,), init="pytorch"), "init", "init='pytorch'"),
        (lambda: models.mlp((4,), init="torch", kernel_initializer="he_normal"), "kernel_initializer",
         "kernel_initializer='he_normal'"),
        (lambda: models.compile_classifier(models.mlp((4,)), label_smoothing=-1.0), "label_smoothing",
         "label_smoothing=-1.0"),  # was accepted
        (lambda: models.compile_classifier(models.mlp((4,)), learning_rate=0.0), "learning_rate", "learning_rate=0.0"),
        (lambda: models.compile_classifier("model"), "model", "model='model'"),
        (lambda: models.compile_classifier(models.mlp((4,)), optimizer=3), "optimizer", "optimizer=3"),
    ],
)
def test_bad_input_names_the_argument(make, arg, received):
    with pytest.raises((ValueError, TypeError)) as err:
        make()
    message = str(err.value)
    assert f"argument `{arg}`" in message and f"Received: {received}" in message, message


# ---------------------------------------------------------------- init="torch" (issue 11, item 6)


def _bounds(model):
    """(layer, kernel bound, bias bound) of every Dense/Conv2D: U(±1/sqrt(fan_in)) for both."""
    out = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            k = keras.ops.convert_to_numpy(layer.kernel)
            fan_in = int(np.prod(k.shape[:-1]))
            out.append((layer, 1 / np.sqrt(fan_in)))
    return out


def test_mlp_init_torch_draws_kernels_and_biases_within_torch_bounds():
    m = models.mlp((8, 8, 1), 10, hidden=(75, 45), init="torch")
    fans = []
    for layer, bound in _bounds(m):
        k, b = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
        fans.append(k.shape[0])
        assert np.abs(k).max() <= bound and np.abs(b).max() <= bound
        assert np.abs(k).max() > 0.95 * bound  # uniform on the whole interval, not a narrower one
        np.testing.assert_allclose(k.var(), bound**2 / 3, rtol=0.15)  # Var U(-a, a) = a^2 / 3
        assert np.abs(b).max() > 0.5 * bound and not np.all(b == 0)
    assert fans == [64, 75, 45]
    # Keras's default: zero biases
    keras_init = models.mlp((8, 8, 1), 10)
    assert all(np.all(keras.ops.convert_to_numpy(layer.bias) == 0) for layer, _ in _bounds(keras_init))


def test_cnn_and_softmax_regression_init_torch():
    for m, fans in ((models.cnn((8, 8, 2), 10, filters=(4, 6), init="torch"), [18, 36, 6]),
                    (models.softmax_regression((8, 8, 1), 10, init="torch"), [64])):
        got = []
        for layer, bound in _bounds(m):
            k, b = (keras.ops.convert_to_numpy(w) for w in (layer.kernel, layer.bias))
            got.append(int(np.prod(k.shape[:-1])))
            assert np.abs(k).max() <= bound and 0 < np.abs(b).max() <= bound
        assert got == fans
    # with a norm layer the convolutions have no bias, the kernels still follow torch
    m = models.cnn((8, 8, 1), 10, filters=(4,), norm=lambda: keras.layers.BatchNormalization(), init="torch")
    assert m.get_layer("conv_1").bias is None


def test_mlp_init_torch_saves_and_loads(tmp_path):
    m = models.mlp((4,), 3, hidden=(5,), init="torch")
    models.compile_classifier(m, learning_rate=0.01)
    m.fit(np.ones((4, 4), "float32"), np.arange(4) % 3, epochs=1, verbose=0)
    m.save(tmp_path / "t.keras")
    loaded = keras.saving.load_model(tmp_path / "t.keras")
    config = loaded.get_layer("hidden_1").get_config()
    assert config["bias_initializer"]["registered_name"] == "kreg>TorchLinearBias"
    assert config["bias_initializer"]["config"]["fan_in"] == 4
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), m.predict(x, verbose=0), rtol=1e-6)
