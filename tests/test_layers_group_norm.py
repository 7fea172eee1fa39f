"""kreg.layers.GroupNorm against torch.nn.GroupNorm and keras GroupNormalization."""

import keras
import numpy as np
import pytest
import torch

from kreg.layers import GroupNorm

C = 6
SHAPES = [(2, C), (1, 5, C), (3, 4, 4, C), (1, 3, 2, C)]  # 2-D, 3-D, 4-D, batch size 1


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _layer(groups, shape, axis=-1, seed=0):
    layer = GroupNorm(groups, axis=axis)
    layer.build(shape)
    rng = np.random.default_rng(seed)
    gamma = rng.normal(size=(C,)).astype("float32")
    beta = rng.normal(size=(C,)).astype("float32")
    layer.set_weights([gamma, beta])
    return layer, gamma, beta


def _torch_ref(x_cf, groups, gamma, beta, eps=1e-5):
    ref = torch.nn.GroupNorm(groups, C, eps=eps)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
        return ref(torch.from_numpy(x_cf)).numpy()


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d_b{s[0]}")
@pytest.mark.parametrize("groups", [1, 2, 3, -1])
def test_matches_torch_channels_last(shape, groups):
    x = (np.random.default_rng(1).normal(size=shape) * 3 + 1).astype("float32")
    layer, gamma, beta = _layer(groups, shape)
    ours = _np(layer(x))
    if len(shape) == 2 and groups == -1:
        # one value per group: the exact output is beta; torch's variance
        # (E[x^2] - E[x]^2 in float32) leaves ~1e-5 of cancellation noise.
        np.testing.assert_array_equal(ours, np.broadcast_to(beta, shape))
        return
    ref = _torch_ref(np.ascontiguousarray(np.moveaxis(x, -1, 1)), C if groups == -1 else groups, gamma, beta)
    assert np.abs(ours - np.moveaxis(ref, 1, -1)).max() <= 1e-5


@pytest.mark.parametrize("groups", [1, 2, -1])
def test_matches_torch_channels_first(groups):
    shape = (2, C, 3, 4)
    x = np.random.default_rng(2).normal(size=shape).astype("float32")
    layer, gamma, beta = _layer(groups, shape, axis=1)
    ref = _torch_ref(x, C if groups == -1 else groups, gamma, beta)
    assert np.abs(_np(layer(x)) - ref).max() <= 1e-5


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d_b{s[0]}")
def test_matches_keras_group_normalization(shape):
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    layer, gamma, beta = _layer(3, shape)
    ref = keras.layers.GroupNormalization(groups=3, epsilon=1e-5)
    ref.build(shape)
    ref.set_weights([gamma, beta])
    np.testing.assert_allclose(_np(layer(x)), _np(ref(x)), atol=1e-5)


def test_special_cases_layer_and_instance_norm():
    shape = (2, 3, 3, C)
    x = np.random.default_rng(4).normal(size=shape).astype("float32")
    ln = GroupNorm(1, epsilon=1e-5)
    flat = x.reshape(2, -1)
    expected = ((flat - flat.mean(1, keepdims=True)) / np.sqrt(flat.var(1, keepdims=True) + 1e-5)).reshape(shape)
    np.testing.assert_allclose(_np(ln(x)), expected, atol=1e-5)
    inst = GroupNorm(-1)
    np.testing.assert_allclose(_np(inst(x)), _np(GroupNorm(C)(x)), atol=1e-6)
    assert inst.get_config()["groups"] == -1  # not rewritten by build
    # same rule in training and inference
    np.testing.assert_array_equal(_np(inst(x, training=True)), _np(inst(x)))


# ---------------------------------------------------------------- the fused torch path vs the generic path
# Under the torch backend, inputs with spatial axes run torch.nn.functional.group_norm; the generic
# keras.ops path is forced with the module switch `_FUSED`. Elsewhere both runs take the generic path,
# and the gradients are still checked against torch.nn.GroupNorm's.

BACKEND = keras.backend.backend()
FUSED_CASES = [  # (input shape, axis, groups)
    ((3, 4, 4, C), -1, 3),  # channels last, the CNN case
    ((3, 4, 4, C), -1, -1),  # instance norm
    ((2, 5, C), -1, 2),  # 3-D
    ((2, 2, 3, 2, C), -1, 1),  # 5-D, layer norm
    ((3, C, 4, 4), 1, 2),  # channels first
    ((2, 4, C, 3), 2, 3),  # channel axis in the middle
    ((4, C), -1, 3),  # 2-D: the generic path on every backend
]


@pytest.fixture
def generic_only(monkeypatch):
    from kreg.layers import group_norm

    monkeypatch.setattr(group_norm, "_FUSED", False)


def _forward_and_grads(layer, x, w):
    """Output, d/dx, d/dgamma, d/dbeta of sum(layer(x) * w), with the backend's autodiff."""
    if BACKEND == "torch":
        xt = torch.tensor(x, requires_grad=True)
        for v in layer.trainable_variables:
            v.value.grad = None
        y = layer(xt)
        (y.float() * torch.from_numpy(w)).sum().backward()
        return (y.detach().float().numpy(), xt.grad.float().numpy(),
                *[v.value.grad.numpy().copy() for v in layer.trainable_variables])
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        def loss(params, xj):
            y = layer.stateless_call(params, [], xj)[0]
            return jnp.sum(y.astype("float32") * w), y

        (gp, gx), y = jax.grad(loss, argnums=(0, 1), has_aux=True)(
            [v.value for v in layer.trainable_variables], jnp.asarray(x))
        return (np.asarray(y, "float32"), np.asarray(gx, "float32"), *[np.asarray(g) for g in gp])
    import tensorflow as tf

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        loss = tf.reduce_sum(tf.cast(y, "float32") * w)
    gx, *gp = tape.gradient(loss, [xt] + [v.value for v in layer.trainable_variables])
    return (y.numpy().astype("float32"), gx.numpy().astype("float32"), *[g.numpy() for g in gp])


def _case(shape, axis, groups, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 3 + 1).astype("float32")
    w = rng.normal(size=shape).astype("float32")
    layer = GroupNorm(groups, axis=axis)
    layer.build(shape)
    gamma, beta = rng.normal(size=(C,)).astype("float32"), rng.normal(size=(C,)).astype("float32")
    layer.set_weights([gamma, beta])
    return layer, x, w, gamma, beta


@pytest.mark.parametrize("shape,axis,groups", FUSED_CASES, ids=lambda v: str(v))
def test_fused_path_matches_generic_path(shape, axis, groups, monkeypatch):
    from kreg.layers import group_norm

    layer, x, w, _, _ = _case(shape, axis, groups)
    fused = _forward_and_grads(layer, x, w)
    monkeypatch.setattr(group_norm, "_FUSED", False)
    generic = _forward_and_grads(layer, x, w)
    for name, a, b in zip(("output", "d/dx", "d/dgamma", "d/dbeta"), fused, generic):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("shape,axis,groups", FUSED_CASES, ids=lambda v: str(v))
def test_gradients_match_torch(shape, axis, groups):
    layer, x, w, gamma, beta = _case(shape, axis, groups, seed=1)
    y, gx, gg, gb = _forward_and_grads(layer, x, w)
    g = C if groups == -1 else groups
    ref = torch.nn.GroupNorm(g, C, eps=1e-5)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(gamma))
        ref.bias.copy_(torch.from_numpy(beta))
    xt = torch.tensor(np.ascontiguousarray(np.moveaxis(x, axis, 1)), requires_grad=True)
    yt = ref(xt)
    (yt * torch.from_numpy(np.ascontiguousarray(np.moveaxis(w, axis, 1)))).sum().backward()
    np.testing.assert_allclose(y, np.moveaxis(yt.detach().numpy(), 1, axis), atol=2e-5)
    np.testing.assert_allclose(gx, np.moveaxis(xt.grad.numpy(), 1, axis), rtol=1e-4, atol=5e-5)
    np.testing.assert_allclose(gg, ref.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gb, ref.bias.grad.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_fused_path_matches_generic_path_mixed_precision(policy, monkeypatch):
    """Both paths compute in float32 and round once to the compute dtype: the same numbers."""
    from kreg.layers import group_norm

    keras.config.set_dtype_policy(policy)
    try:
        layer, x, w, _, _ = _case((3, 4, 4, C), -1, 3, seed=2)
        fused = _forward_and_grads(layer, x, w)
        assert keras.backend.standardize_dtype(layer(x).dtype) == policy.split("_")[1]
        monkeypatch.setattr(group_norm, "_FUSED", False)
        generic = _forward_and_grads(layer, x, w)
    finally:
        keras.config.set_dtype_policy("float32")
    tol = 1e-2 if policy == "mixed_bfloat16" else 2e-3  # one rounding of the output (and of dy)
    for name, a, b in zip(("output", "d/dx", "d/dgamma", "d/dbeta"), fused, generic):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max(), err_msg=name)


def test_symbolic_build():
    """A functional model builds (compute_output_spec: meta tensors under torch) with an unknown batch."""
    inputs = keras.Input((5, 5, C))
    out = GroupNorm(3)(inputs)
    assert tuple(out.shape) == (None, 5, 5, C)
    out = GroupNorm(2, axis=1)(keras.Input((C, 5)))
    assert tuple(out.shape) == (None, C, 5)


def _cnn(first):
    """GroupNorm as the first layer (its input needs no gradient) and after a convolution."""
    layers = [keras.Input((6, 6, 4))]
    if first:
        layers.append(GroupNorm(2))
    layers += [keras.layers.Conv2D(C, 3, padding="same"), GroupNorm(3), keras.layers.Activation("relu"),
               keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)]
    return keras.Sequential(layers)


@pytest.mark.parametrize("first", [True, False], ids=["first_layer", "after_conv"])
def test_fit_uses_fused_kernel_and_matches_generic(first, monkeypatch):
    """model.fit (default jit_compile) runs the fused kernel under torch, and trains as the generic path does."""
    from kreg.layers import group_norm

    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 6, 6, 4)).astype("float32")
    y = rng.integers(0, 3, 16)
    calls = []
    fused_kernel = torch.nn.functional.group_norm
    monkeypatch.setattr(torch.nn.functional, "group_norm",
                        lambda *a, **k: calls.append(1) or fused_kernel(*a, **k))
    weights = {}
    for fused in (True, False):
        monkeypatch.setattr(group_norm, "_FUSED", fused)
        keras.utils.set_random_seed(0)
        model = _cnn(first)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(True))
        before = [np.array(v) for v in model.get_weights()]
        n = len(calls)
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
        if fused:
            assert (len(calls) > n) == (BACKEND == "torch")
        else:
            assert len(calls) == n
        gn = [layer for layer in model.layers if isinstance(layer, GroupNorm)]
        for layer in gn:  # gamma and beta received gradients
            for v in layer.trainable_variables:
                idx = [id(w) for w in model.weights].index(id(v))
                assert not np.allclose(np.array(v), before[idx]), v.path
        weights[fused] = model.get_weights()
    for a, b in zip(weights[True], weights[False]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
