"""kreg.models.ParallelMLPs / width_sweep_mlp: members equal stand-alone MLPs, train as if alone."""

import keras
import numpy as np
import pytest

from kreg import models


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 5)).astype("float32"), rng.integers(0, 3, 16)


def test_members_are_independent_mlps_and_train_as_if_alone():
    x, y = _data()
    m = models.width_sweep_mlp((5,), 3, widths=[2, 8, 4])
    layer = m.get_layer("members")
    out = keras.ops.convert_to_numpy(m(x))
    assert out.shape == (16, 3, 3)
    for j in range(3):
        w1, b1, w2, b2 = layer.member_weights(j)
        np.testing.assert_allclose(np.maximum(x @ w1 + b1, 0) @ w2 + b2, out[:, j], atol=1e-5)
    solo = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    solo.set_weights(layer.member_weights(1))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    m.compile(keras.optimizers.Adam(0.01, epsilon=1e-12), loss=loss)
    solo.compile(keras.optimizers.Adam(0.01, epsilon=1e-12), loss=loss)
    m.fit(x, np.repeat(y[:, None], 3, 1), batch_size=16, epochs=5, verbose=0, shuffle=False)
    solo.fit(x, y, batch_size=16, epochs=5, verbose=0, shuffle=False)
    for a, b in zip(solo.get_weights(), layer.member_weights(1)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_blockwise_glorot_init():
    m = models.width_sweep_mlp((40,), 10, widths=[4, 1024])
    w1, _, w2, _ = m.get_layer("members").member_weights(1)
    assert np.abs(w1).max() <= np.sqrt(6 / (40 + 1024)) + 1e-7
    assert abs(w1.std() - np.sqrt(2 / (40 + 1024))) < 0.05 * np.sqrt(2 / (40 + 1024))
    assert np.abs(w2).max() <= np.sqrt(6 / (1024 + 10)) + 1e-7


def test_serialization_round_trip(tmp_path):
    x, _ = _data()
    m = models.width_sweep_mlp((5,), 3, widths=[2, 6])
    path = tmp_path / "sweep.keras"
    m.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("members").get_config()["widths"] == [2, 6]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(m(x)), atol=1e-6)


@pytest.mark.parametrize("widths", [[], [3, 0], 5, [2.5]])
def test_bad_widths(widths):
    with pytest.raises(ValueError, match="`widths`"):
        models.ParallelMLPs(widths, 3)
