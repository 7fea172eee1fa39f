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


# ---------------------------------------------------------------- per-example masks (issue 15)
from kreg.layers.drop_connect import _example_mask_bits  # noqa: E402


def _example_layer(rate, units, seed=7, chunk_size=None, **kw):
    """A linear per-example layer whose masked kernel entries are exactly 1: kernel = the exact keep probability."""
    bits, threshold = _example_mask_bits(rate)
    init = keras.initializers.Constant(threshold / 2**bits)
    return DropConnect(units, rate=rate, use_bias=False, kernel_initializer=init, mask="example", seed=seed,
                       chunk_size=chunk_size, **kw)


def _decode(layer, n, n_in):
    """Masks (n, n_in, units) of the layer's next call: input 2**i sums the kept inputs' bits exactly in float32."""
    x = np.tile(2.0 ** np.arange(n_in, dtype="float32"), (n, 1))
    u = _np(layer(x, training=True)).astype(np.int64)
    assert (u >= 0).all() and (u < 2**n_in).all()
    return ((u[:, None, :] >> np.arange(n_in)[None, :, None]) & 1).astype(bool)


def test_example_mask_bits_exact_for_dyadic_rates():
    assert _example_mask_bits(0.5) == (1, 1)
    assert _example_mask_bits(0.25) == (2, 3)
    assert _example_mask_bits(0.375) == (4, 10)  # keep 5/8 = 10/16 (3-bit fields are not used)
    assert _example_mask_bits(1 / 256) == (8, 255)
    bits, t = _example_mask_bits(0.3)  # not dyadic: 16-bit fields, keep probability within 2**-17 of 0.7
    assert bits == 16 and abs(t / 2**16 - 0.7) <= 2**-17
    assert _example_mask_bits(0.0) == (1, 2)


@pytest.mark.parametrize("rate", [0.5, 0.25, 0.3])
def test_example_masks_iid_bernoulli(rate):
    n, n_in, units = 400, 20, 37  # 37 outputs: a partial word/byte of mask fields at the end
    bits, threshold = _example_mask_bits(rate)
    keep = threshold / 2**bits
    layer = _example_layer(rate, units, chunk_size=64)  # 7 chunks, the last one padded
    m1, m2 = _decode(layer, n, n_in), _decode(layer, n, n_in)
    for m in (m1, m2):
        # keep frequency overall and at every input / output position (each bit field of a word or byte)
        se = np.sqrt(keep * (1 - keep) / m.size)
        assert abs(m.mean() - keep) < 5 * se, (m.mean(), keep)
        for axis, k in ((1, n_in), (2, units)):
            freq = m.mean(axis=tuple(a for a in range(3) if a != axis))
            se_pos = np.sqrt(keep * (1 - keep) / (m.size / k))
            assert np.all(np.abs(freq - keep) < 5 * se_pos), freq
    # independence: correlation between examples (neighbours and chunk boundaries), inputs, outputs and calls
    z = (m1 - keep).astype(float)
    z2 = (m2 - keep).astype(float)
    var = keep * (1 - keep)
    se_corr = 5 / np.sqrt(z[:-1].size)
    assert abs((z[:-1] * z[1:]).mean() / var) < se_corr           # example b vs b+1
    assert abs((z[:-64] * z[64:]).mean() / var) < 5 / np.sqrt(z[:-64].size)  # same position, next chunk
    assert abs((z[:, :-1] * z[:, 1:]).mean() / var) < 5 / np.sqrt(z[:, :-1].size)  # neighbouring inputs
    assert abs((z[:, :, :-1] * z[:, :, 1:]).mean() / var) < 5 / np.sqrt(z[:, :, :-1].size)  # neighbouring outputs
    assert abs((z * z2).mean() / var) < 5 / np.sqrt(z.size)       # call t vs call t+1
    # every example gets its own mask; a new call gets new masks
    assert len({row.tobytes() for row in m1}) == n
    assert (m1 != m2).mean() > 0.3


def test_example_masks_reproducible_from_seed_and_chunking_keeps_distribution():
    a = _decode(_example_layer(0.5, 9, seed=3), 50, 12)
    b = _decode(_example_layer(0.5, 9, seed=3), 50, 12)
    c = _decode(_example_layer(0.5, 9, seed=4), 50, 12)
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.3
    d = _decode(_example_layer(0.5, 9, seed=3, chunk_size=1), 50, 12)  # one example a chunk
    assert len({row.tobytes() for row in d}) == 50 and abs(d.mean() - 0.5) < 5 * np.sqrt(0.25 / d.size)


def _grads(layer, x, r):
    """d/d(kernel, x) of sum(layer(x, training=True) * r), with the backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def loss(kernel, x):
            y, _ = layer.stateless_call([kernel], [v.value for v in layer.non_trainable_variables], x, training=True)
            return (y * r).sum()
        return [np.asarray(g) for g in jax.grad(loss, argnums=(0, 1))(layer.kernel.value, x)]
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.reduce_sum(layer(xt, training=True) * r)
        return [g.numpy() for g in tape.gradient(loss, [layer.kernel.value, xt])]
    import torch

    xt = torch.tensor(x, requires_grad=True)
    loss = (layer(xt, training=True) * torch.tensor(r)).sum()
    kernel = layer.kernel.value
    gk, gx = torch.autograd.grad(loss, [kernel, xt])
    return [gk.detach().cpu().numpy(), gx.detach().cpu().numpy()]


@pytest.mark.parametrize("rate", [0.5, 0.3])
def test_example_gradient_matches_explicit_per_example_computation(rate):
    n, n_in, units, chunk = 10, 12, 7, 3  # 4 chunks, the last one padded
    masks = _decode(_example_layer(rate, units, seed=9, chunk_size=chunk), n, n_in)  # the first call's masks
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, n_in)).astype("float32")
    r = rng.normal(size=(n, units)).astype("float32")
    layer = DropConnect(units, rate=rate, use_bias=False, mask="example", seed=9, chunk_size=chunk)
    layer.build((None, n_in))
    kernel = layer.get_weights()[0]
    bits, threshold = _example_mask_bits(rate)
    wm = masks * (kernel / (threshold / 2**bits))[None]  # (n, in, out): each example's own masked kernel
    expected_y = np.einsum("bi,bio->bo", x, wm)
    probe = DropConnect(units, rate=rate, use_bias=False, mask="example", seed=9, chunk_size=chunk)
    probe.build((None, n_in))
    probe.set_weights([kernel])
    np.testing.assert_allclose(_np(probe(x, training=True)), expected_y, rtol=1e-5, atol=1e-5)
    gk, gx = _grads(layer, x, r)
    np.testing.assert_allclose(gk, np.einsum("bi,bo,bio->io", x, r, masks) / (threshold / 2**bits),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx, np.einsum("bo,bio->bi", r, wm), rtol=1e-5, atol=1e-5)


def test_chunk_size_argument():
    layer = DropConnect(3, mask="example", chunk_size=4)
    assert layer.get_config()["chunk_size"] == 4
    assert DropConnect.from_config(layer.get_config()).chunk_size == 4
    assert DropConnect(3).get_config()["chunk_size"] is None
    for bad in (0, -2, 1.5, True, "8"):
        with pytest.raises((ValueError, TypeError), match=f"argument `chunk_size`.*Received: chunk_size={bad!r}"):
            DropConnect(3, chunk_size=bad)


def test_example_masks_memory_bounded_under_jit():
    """JAX: the compiled train-mode gradient holds far less than B x in x out x 4 bytes of temporaries."""
    if keras.backend.backend() != "jax":
        pytest.skip("XLA's memory analysis of a compiled function: JAX backend")
    import jax

    n, n_in, units = 256, 784, 75
    layer = DropConnect(units, rate=0.5, mask="example", seed=1)
    layer.build((None, n_in))
    ntv = [v.value for v in layer.non_trainable_variables]

    def loss(tv, x):
        y, _ = layer.stateless_call(tv, ntv, x, training=True)
        return y.sum()
    x = np.ones((n, n_in), "float32")
    compiled = jax.jit(jax.grad(loss)).lower([v.value for v in layer.trainable_variables], x).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    assert temp < n * n_in * units * 4 / 4, temp  # the automatic chunk: about 8 MiB, not 60 MiB
