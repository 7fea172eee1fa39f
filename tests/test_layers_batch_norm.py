"""kreg.layers.BatchNorm (Algorithm 1) and estimate_batchnorm_statistics (Algorithm 2)."""

import keras
import numpy as np
import pytest

from kreg.layers import BatchNorm, estimate_batchnorm_statistics, validate_bn_data


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


# ---------------------------------------------------------------- mixed precision (issue 14, defect 1)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_weights_are_float32_and_not_autocast_under_mixed_precision(policy):
    layer = BatchNorm(momentum=0.9, dtype=policy)
    x = (np.random.default_rng(6).normal(size=(8, 3)) + 100.0).astype("float32")
    y = layer(x, training=True)  # TF raised "cannot compute Mul ... half ... float" here
    assert keras.backend.standardize_dtype(y.dtype) == policy.split("_")[1]
    for w in layer.weights:
        assert w.dtype == "float32", w.path
    # the running mean is updated in float32 from the (rounded) input: 0.1 * mean is not rounded again
    seen = _np(keras.ops.cast(x, policy.split("_")[1])).astype("float64")  # the layer's input, cast
    np.testing.assert_allclose(_np(layer.moving_mean), 0.1 * seen.mean(0), rtol=1e-6)
    z = _np(layer(x, training=False))
    assert np.all(np.isfinite(z))


def test_running_mean_under_mixed_float16_matches_keras_batchnorm():
    # the probe: momentum 0.999 on data near 100 ended at 99.975 under JAX (float16 rounding)
    x = (np.random.default_rng(7).normal(size=(16, 2)) * 0.1 + 100.0).astype("float32")
    ours = BatchNorm(momentum=0.99, dtype="mixed_float16")
    ref = keras.layers.BatchNormalization(momentum=0.99, dtype="mixed_float16")
    for _ in range(300):
        ours(x, training=True)
        ref(x, training=True)
    np.testing.assert_allclose(_np(ours.moving_mean), _np(ref.moving_mean), rtol=1e-5)
    expected = (1 - 0.99**300) * x.astype("float16").astype("float64").mean(0)
    np.testing.assert_allclose(_np(ours.moving_mean), expected, rtol=1e-5)


# ---------------------------------------------------------------- Algorithm 2 on nested models (defect 6)


def _nested_models():
    keras.utils.set_random_seed(0)
    inner_seq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), BatchNorm(name="bn_seq")], name="inner_seq")
    i = keras.Input((3,))
    inner_fn = keras.Model(i, keras.layers.BatchNormalization(name="bn_fn")(keras.layers.Dense(2)(i)), name="inner_fn")
    outer_in = keras.Input((4,))
    out = keras.layers.Dense(1)(inner_fn(inner_seq(outer_in)))
    functional = keras.Model(outer_in, out)
    sequential = keras.Sequential([keras.Input((4,)), inner_seq, inner_fn, keras.layers.Dense(1)])
    return functional, sequential


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_algorithm_2_reaches_nested_models(kind):
    functional, sequential = _nested_models()
    model = functional if kind == "functional" else sequential
    x = (np.random.default_rng(8).normal(size=(32, 4)) * 2 + 1).astype("float32")
    assert estimate_batchnorm_statistics(model, x, batch_size=16) == 2
    inner_seq = model.get_layer("inner_seq")
    k, b = inner_seq.layers[0].get_weights()
    h = x @ k + b
    mean1, var1 = _np_stats(h, 16)
    bn1 = inner_seq.get_layer("bn_seq")
    np.testing.assert_allclose(_np(bn1.moving_mean), mean1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(bn1.moving_variance), var1, rtol=1e-4, atol=1e-5)
    g, be = bn1.gamma, bn1.beta
    z = _np(g) * (h - mean1) / np.sqrt(var1 + 1e-3) + _np(be)
    inner_fn = model.get_layer("inner_fn")
    k2, b2 = inner_fn.layers[1].get_weights()
    mean2, var2 = _np_stats(z @ k2 + b2, 16)
    bn2 = inner_fn.get_layer("bn_fn")
    np.testing.assert_allclose(_np(bn2.moving_mean), mean2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_np(bn2.moving_variance), var2, rtol=1e-4, atol=1e-4)


def test_algorithm_2_on_list_batches_as_a_torch_dataloader_yields():
    x = (np.random.default_rng(9).normal(size=(8, 3)) + 5).astype("float32")
    y = np.arange(8)
    model = keras.Sequential([keras.Input((3,)), BatchNorm()])
    batches = [[x[:4], y[:4]], [x[4:], y[4:]]]  # DataLoader batches are lists [x, y]
    assert estimate_batchnorm_statistics(model, batches) == 1
    mean, var = _np_stats(x, 4)
    np.testing.assert_allclose(_np(model.layers[0].moving_mean), mean, rtol=1e-5)
    np.testing.assert_allclose(_np(model.layers[0].moving_variance), var, rtol=1e-4)
    # also (x, y) arrays as a whole, as in fit(x, y)
    model.layers[0].moving_mean.assign(np.zeros(3, "float32"))
    assert estimate_batchnorm_statistics(model, [x, y], batch_size=4) == 1
    np.testing.assert_allclose(_np(model.layers[0].moving_mean), mean, rtol=1e-5)


def test_algorithm_2_multi_input_model_and_torch_dataloader():
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    model = keras.Model([a, b], BatchNorm()(keras.layers.Concatenate()([a, b])))
    rng = np.random.default_rng(10)
    xa, xb = rng.normal(size=(8, 2)).astype("float32"), rng.normal(size=(8, 2)).astype("float32") + 3
    assert estimate_batchnorm_statistics(model, [xa, xb], batch_size=4) == 1
    mean, _ = _np_stats(np.concatenate([xa, xb], 1), 4)
    np.testing.assert_allclose(_np(model.layers[-1].moving_mean), mean, rtol=1e-5, atol=1e-6)
    torch = pytest.importorskip("torch")
    if keras.backend.backend() == "torch":
        single = keras.Sequential([keras.Input((2,)), BatchNorm()])
        ds = torch.utils.data.TensorDataset(torch.from_numpy(xb), torch.arange(8))
        loader = torch.utils.data.DataLoader(ds, batch_size=4)
        assert estimate_batchnorm_statistics(single, loader) == 1
        np.testing.assert_allclose(_np(single.layers[0].moving_mean), _np_stats(xb, 4)[0], rtol=1e-5)


@pytest.mark.parametrize(
    "value",
    ["x", 3.0, None, np.zeros((0, 3), "float32"), {}, [], {"a": "x"}, b"abc"],
    ids=["str", "float", "None", "empty_array", "empty_dict", "empty_list", "dict_of_str", "bytes"],
)
def test_validate_bn_data_names_the_argument_and_value(value):
    with pytest.raises(ValueError, match=r"argument `bn_data`.*Received: bn_data="):
        validate_bn_data(value)


def test_validate_bn_data_accepts_data_and_rejects_one_shot_iterators():
    x = np.ones((4, 3), "float32")
    for ok in (x, [x, x], (x, np.arange(4)), {"a": x}, [(x, None)], [[x, np.arange(4)]]):
        assert validate_bn_data(ok) is ok
    gen = (b for b in [x])
    assert validate_bn_data(gen) is gen
    with pytest.raises(ValueError, match=r"argument `bn_data`.*re-iterable.*Received: bn_data=<generator"):
        validate_bn_data((b for b in [x]), reusable=True)
    with pytest.raises(ValueError, match=r"argument `x`.*Received: x='x'"):
        estimate_batchnorm_statistics(keras.Sequential([keras.Input((3,)), BatchNorm()]), "x")
