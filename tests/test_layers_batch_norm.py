"""kreg.layers.BatchNorm (Algorithm 1) and estimate_batchnorm_statistics (Algorithm 2)."""

import keras
import numpy as np
import pytest

from kreg.layers import BatchNorm, estimate_batchnorm_statistics


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.mark.parametrize("shape,axis", [((16, 5), -1), ((4, 3, 3, 2), -1), ((4, 2, 3, 3), 1)])
def test_training_output_equals_keras(shape, axis):
    x = (np.random.default_rng(0).normal(size=shape) * 2 + 3).astype("float32")
    ours, ref = BatchNorm(axis=axis), keras.layers.BatchNormalization(axis=axis)
    ours.build(shape)
    ref.build(shape)
    c = shape[axis]
    rng = np.random.default_rng(1)
    gamma, beta = rng.normal(size=c).astype("float32"), rng.normal(size=c).astype("float32")
    ours.set_weights([gamma, beta, np.zeros(c, "float32"), np.ones(c, "float32")])
    ref.set_weights([gamma, beta, np.zeros(c, "float32"), np.ones(c, "float32")])
    np.testing.assert_allclose(_np(ours(x, training=True)), _np(ref(x, training=True)), atol=1e-5)


def test_running_statistics_update():
    x = np.random.default_rng(2).normal(size=(8, 3)).astype("float32")
    layer = BatchNorm(momentum=0.9)
    layer(x, training=True)
    np.testing.assert_allclose(_np(layer.moving_mean), 0.1 * x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(layer.moving_variance), 0.9 + 0.1 * x.var(0, ddof=1), rtol=1e-5)
    before = _np(layer.moving_mean)
    layer(x)  # inference does not update
    np.testing.assert_array_equal(_np(layer.moving_mean), before)


def test_scale_invariance():
    rng = np.random.default_rng(3)
    u = rng.normal(size=(32, 6)).astype("float32")
    w = rng.normal(size=(6, 4)).astype("float32")
    layer = BatchNorm(epsilon=1e-6)
    a = _np(layer(u @ w, training=True))
    b = _np(layer(10.0 * (u @ w), training=True))
    np.testing.assert_allclose(a, b, atol=1e-4)


def _np_stats(f, batch_size):
    means, variances = [], []
    for i in range(0, len(f) - batch_size + 1, batch_size):
        b = f[i : i + batch_size].reshape(-1, f.shape[-1]).astype("float64")
        means.append(b.mean(0))
        variances.append(b.var(0, ddof=1))
    return np.mean(means, 0), np.mean(variances, 0)


def test_algorithm_2_matches_numpy_and_updates_keras_bn():
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(70, 3)) * 2 + 1).astype("float32")  # 70: last partial batch ignored
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="relu"),
        BatchNorm(epsilon=1e-3),
        keras.layers.Dense(2),
        keras.layers.BatchNormalization(epsilon=1e-3),
    ])
    assert estimate_batchnorm_statistics(model, x, batch_size=16) == 2
    k1, b1, g1, be1, *_ = [w for w in model.layers[0].get_weights() + model.layers[1].get_weights()]
    h = np.maximum(x @ k1 + b1, 0)
    mean1, var1 = _np_stats(h, 16)
    np.testing.assert_allclose(_np(model.layers[1].moving_mean), mean1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(model.layers[1].moving_variance), var1, rtol=1e-4, atol=1e-5)
    # inference of the first BN, then the second layer's input, in numpy
    z = g1 * (h - mean1) / np.sqrt(var1 + 1e-3) + be1
    k2, b2 = model.layers[2].get_weights()
    f2 = z @ k2 + b2
    mean2, var2 = _np_stats(f2, 16)
    bn2 = model.layers[3]
    np.testing.assert_allclose(_np(bn2.moving_mean), mean2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_np(bn2.moving_variance), var2, rtol=1e-4, atol=1e-4)
    g2, be2 = bn2.get_weights()[:2]
    expected = g2 * (f2 - mean2) / np.sqrt(var2 + 1e-3) + be2
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)


def test_algorithm_2_conv_and_iterable_and_errors():
    x = np.random.default_rng(5).normal(size=(8, 4, 4, 2)).astype("float32") + 2
    model = keras.Sequential([keras.Input((4, 4, 2)), BatchNorm()])
    batches = [(x[:4], None), (x[4:], None)]
    assert estimate_batchnorm_statistics(model, batches) == 1
    mean, var = _np_stats(x, 4)
    np.testing.assert_allclose(_np(model.layers[0].moving_mean), mean, rtol=1e-5)
    np.testing.assert_allclose(_np(model.layers[0].moving_variance), var, rtol=1e-4)
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert estimate_batchnorm_statistics(plain, np.ones((4, 2))) == 0
    with pytest.raises(ValueError, match=r"`batch_size`.*Received: batch_size=1"):
        estimate_batchnorm_statistics(model, x, batch_size=1)
