"""kreg.layers.WeightNoise."""

import keras
import numpy as np
import pytest

from kreg.layers import WeightNoise


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _check_variance(samples, var):
    n = samples.size
    assert abs(samples.mean()) < 5 * np.sqrt(var / n)
    # std error of the sample variance of n Gaussian draws: var * sqrt(2/(n-1))
    assert abs(samples.var() - var) < 5 * var * np.sqrt(2 / (n - 1))


@pytest.mark.parametrize("noise_bias", [False, True])
def test_output_variance_dense(noise_bias):
    sigma, units = 0.3, 4000
    layer = WeightNoise(keras.layers.Dense(units), stddev=sigma, noise_bias=noise_bias, seed=2)
    x = np.array([[1.0, -2.0, 0.5, 0.0, 1.5]], "float32")
    clean = _np(layer(x))
    noisy = _np(layer(x, training=True))
    # each of the `units` outputs is an independent draw: sum_i x_i eps_ij (+ eps_bj)
    var = sigma**2 * ((x**2).sum() + (1.0 if noise_bias else 0.0))
    _check_variance((noisy - clean).ravel(), var)


def test_output_variance_conv():
    sigma, filters = 0.5, 3000
    layer = WeightNoise(keras.layers.Conv1D(filters, 2), stddev=sigma, seed=3)
    x = np.array([[[1.0, 0.5], [-1.0, 2.0]]], "float32")  # (1, steps=2, channels=2)
    diff = _np(layer(x, training=True)) - _np(layer(x))
    assert diff.shape == (1, 1, filters)
    _check_variance(diff.ravel(), sigma**2 * (x**2).sum())


@pytest.mark.parametrize(
    "inner,shape",
    [
        (lambda: keras.layers.Dense(3, activation="relu", bias_initializer="random_normal"), (5,)),
        (lambda: keras.layers.Conv1D(3, 3, padding="causal", dilation_rate=2, bias_initializer="random_normal"), (7, 2)),
        (lambda: keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh", bias_initializer="random_normal"), (6, 6, 2)),
        (lambda: keras.layers.Conv2D(2, 2, data_format="channels_first", bias_initializer="random_normal"), (3, 4, 4)),
    ],
)
def test_identity_at_inference(inner, shape):
    x = np.random.default_rng(0).normal(size=(2,) + shape).astype("float32")
    layer = WeightNoise(inner(), stddev=1.0, seed=0)
    out = _np(layer(x))
    np.testing.assert_allclose(out, _np(layer.layer(x)), rtol=1e-5, atol=1e-5)
    assert tuple(out.shape) == tuple(layer.compute_output_shape(x.shape))
    if len(shape) == 1:  # stddev=0 in training is the wrapped layer too
        zero = WeightNoise(layer.layer, stddev=0.0)
        np.testing.assert_allclose(_np(zero(x, training=True)), out, rtol=1e-5, atol=1e-5)
    # training differs
    assert not np.allclose(_np(layer(x, training=True)), out)


def test_gradients_reach_clean_weights():
    inner = keras.layers.Dense(2, kernel_initializer="zeros")
    model = keras.Sequential([keras.Input((3,)), WeightNoise(inner, stddev=0.1, seed=1)])
    # no extra variables: the trainable weights are the clean kernel and bias
    assert [id(w) for w in model.trainable_weights] == [id(inner.kernel), id(inner.bias)]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.ones((4, 3), "float32")
    model.fit(x, np.ones((4, 2), "float32"), epochs=1, batch_size=4, verbose=0)
    kernel = _np(inner.kernel)
    assert np.all(kernel > 0)  # moved toward the target from zero
