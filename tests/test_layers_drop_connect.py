"""kreg.layers.DropConnect."""

import keras
import numpy as np
import pytest

from kreg.layers import DropConnect


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _ones_layer(n_in, units, rate, **kw):
    layer = DropConnect(units, rate=rate, kernel_initializer="ones", seed=4, **kw)
    layer.build((None, n_in))
    return layer


def test_rate_zero_equals_dense_exactly():
    x = np.random.default_rng(0).normal(size=(5, 7)).astype("float32")
    dense = keras.layers.Dense(3, activation="tanh", bias_initializer="random_normal")
    dense.build((None, 7))
    dc = DropConnect(3, rate=0.0, activation="tanh")
    dc.build((None, 7))
    dc.set_weights(dense.get_weights())
    for training in (False, True):
        np.testing.assert_array_equal(_np(dc(x, training=training)), _np(dense(x)))


def test_drop_fraction_and_expectation_batch_mask():
    rate, n = 0.3, 150
    layer = _ones_layer(n, n, rate)
    # identity input: output row i is row i of the masked, rescaled kernel
    y = _np(layer(np.eye(n, dtype="float32"), training=True))
    m = y.size
    se = np.sqrt(rate * (1 - rate) / m)
    assert abs((y == 0).mean() - rate) < 5 * se
    np.testing.assert_allclose(np.unique(y[y != 0]), [1 / (1 - rate)], rtol=1e-6)
    # E[M/(1-rate)] = 1: the mean weight is unbiased
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(rate / (1 - rate) / m)


def test_example_mask_differs_per_example():
    rate, n_in, units, b = 0.5, 20, 10, 100
    layer = _ones_layer(n_in, units, rate, mask="example")
    x = np.ones((b, n_in), "float32")
    y = _np(layer(x, training=True))
    assert y.shape == (b, units)
    assert len({row.tobytes() for row in y}) > 1  # masks differ across examples
    # u = sum_i M_i / (1-rate): mean n_in, variance n_in * rate / (1-rate)
    sd = np.sqrt(n_in * rate / (1 - rate))
    assert abs(y.mean() - n_in) < 5 * sd / np.sqrt(y.size)
    assert abs(y.std() / sd - 1) < 0.1
    # leading axes are flattened and restored
    assert _np(layer(np.ones((2, 50, n_in), "float32"), training=True)).shape == (2, 50, units)


def test_mean_inference_is_deterministic_dense():
    x = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
    layer = DropConnect(3, rate=0.5, activation="relu")
    layer.build((None, 6))
    kernel, bias = layer.get_weights()
    expected = np.maximum(x @ kernel + bias, 0)
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(_np(layer(x)), _np(layer(x)))


def test_gaussian_inference_closer_to_monte_carlo_than_mean():
    rate, n_in, units, draws = 0.5, 30, 8, 2000
    rng = np.random.default_rng(2)
    v = rng.normal(size=(1, n_in)).astype("float32")
    kernel = rng.normal(size=(n_in, units)).astype("float32") / np.sqrt(n_in)
    bias = -(v @ kernel)[0] * 0.5  # pre-activations near zero: relu bends there
    layers = {}
    for inference in ("mean", "gaussian"):
        layer = DropConnect(units, rate=rate, activation="relu", inference=inference,
                            num_samples=draws, mask="example", seed=11)
        layer.build((None, n_in))
        layer.set_weights([kernel, bias])
        layers[inference] = layer
    # Monte-Carlo reference: one independent mask per copy of v
    mc = _np(layers["mean"](np.repeat(v, draws, axis=0), training=True)).mean(axis=0)
    mean_err = np.abs(_np(layers["mean"](v))[0] - mc).sum()
    gauss_err = np.abs(_np(layers["gaussian"](v))[0] - mc).sum()
    assert gauss_err < 0.5 * mean_err, (gauss_err, mean_err)


def test_gaussian_moments_match_derivation():
    # linear activation: Gaussian inference samples have mean Wv + b and
    # variance rate/(1-rate) (W*W)^T (v*v)
    rate, n_in = 0.4, 10
    v = np.random.default_rng(3).normal(size=(1, n_in)).astype("float32")
    layer = DropConnect(1, rate=rate, inference="gaussian", num_samples=1, seed=1)
    layer.build((None, n_in))
    kernel, bias = layer.get_weights()
    draws = np.array([_np(layer(v))[0, 0] for _ in range(3)])  # one draw per call
    var = rate / (1 - rate) * (kernel[:, 0] ** 2 * v[0] ** 2).sum()
    big = DropConnect(1, rate=rate, inference="gaussian", num_samples=20000, seed=1)
    big.build((None, n_in))
    big.set_weights([kernel, bias])
    mean = (v @ kernel + bias)[0, 0]
    assert abs(_np(big(v))[0, 0] - mean) < 5 * np.sqrt(var / 20000)
    assert len(set(draws.tolist())) == 3


def test_example_mask_inside_jit_fit():
    model = keras.Sequential([keras.Input((5,)), DropConnect(4, mask="example", seed=1), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(np.ones((6, 5), "float32"), np.ones((6, 1), "float32"), batch_size=3, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


@pytest.mark.parametrize("mask", ["batch", "example"])
def test_mask_under_bfloat16_is_drawn_in_float32(mask):
    # issue 14, defect 13: the same float32 draw as under float32, whatever the compute dtype
    x = np.eye(64, dtype="float32")
    masks = []
    for dtype in ("float32", "mixed_bfloat16"):
        layer = DropConnect(64, rate=0.3, use_bias=False, kernel_initializer="ones", mask=mask, seed=4, dtype=dtype)
        y = keras.ops.convert_to_numpy(keras.ops.cast(layer(x, training=True), "float32"))
        masks.append(y != 0)
        # kept weights are 1/0.7, scaled in float32 and rounded once to the compute dtype
        np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=4e-3)
    np.testing.assert_array_equal(masks[0], masks[1])
    assert 0.3 < masks[0].mean() < 0.95
