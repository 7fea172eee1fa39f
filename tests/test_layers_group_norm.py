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
