"""The mixed-precision column (issue 14): every public layer and model builder under a mixed policy.

Each case runs one ``model.fit`` step under ``mixed_float16`` and ``mixed_bfloat16`` (set as the
global policy, as a user would), on every backend: all three support both policies on CPU with
Keras 3 (TensorFlow, JAX and PyTorch run float16 and bfloat16 matmuls and convolutions there), so
nothing is skipped. Checked: the loss and the predictions are finite, the layer computes in the
policy's compute dtype, every variable keeps the policy's variable dtype (float32) through ``fit``,
and batch-norm statistics are float32 values computed in float32 (equal to a float64 oracle on
the rounded inputs).
"""

import keras
import numpy as np
import pytest

import kreg.layers as kl
from kreg import models
from kreg import regularizers as R
from kreg import schedules
from kreg.initializers import TorchLinearBias, TorchLinearKernel

POLICIES = ["mixed_float16", "mixed_bfloat16"]

# name -> (factory, input shape without batch); the layers of test_layers_common, in small
LAYERS = {
    "DropConnect": (lambda: kl.DropConnect(4, rate=0.5, activation="relu", seed=1), (5,)),
    "DropConnect_example_gaussian": (
        lambda: kl.DropConnect(3, rate=0.3, mask="example", inference="gaussian", num_samples=4, seed=1), (5,)),
    "WeightNoise_Dense": (lambda: kl.WeightNoise(keras.layers.Dense(4), stddev=0.5, noise_bias=True, seed=1), (5,)),
    "WeightNoise_Conv2D": (
        lambda: kl.WeightNoise(keras.layers.Conv2D(3, 3, strides=2, padding="same"), stddev=0.5, seed=1), (6, 6, 2)),
    "GroupNorm": (lambda: kl.GroupNorm(2), (4, 4, 4)),
    "Dropout": (lambda: kl.Dropout(0.5, mode="vanilla", noise_shape=(None, 1, 3), seed=1), (4, 3)),
    "BatchNorm": (lambda: kl.BatchNorm(momentum=0.9), (5,)),
}


@pytest.fixture(params=POLICIES)
def policy(request):
    keras.config.set_dtype_policy(request.param)
    try:
        yield keras.dtype_policies.get(request.param)
    finally:
        keras.config.set_dtype_policy("float32")


def _x(shape, n=8, seed=0):
    return (np.random.default_rng(seed).normal(size=(n,) + shape) + 0.5).astype("float32")


def _variable_dtypes(layer):
    return {v.path: v.dtype for v in layer.weights}


def _finite(a):
    return np.all(np.isfinite(np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(a, "float32")))))


def test_every_public_layer_is_covered():
    layers = {n for n in kl.__all__ if isinstance(getattr(kl, n), type)}
    assert layers == {n.split("_")[0] for n in LAYERS}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_fit_step(name, policy):
    make, shape = LAYERS[name]
    layer = make()
    model = keras.Sequential([keras.Input(shape), layer, keras.layers.Flatten(), keras.layers.Dense(1)])
    x, y = _x(shape), np.ones((8, 1), "float32")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    dtypes = _variable_dtypes(layer)
    assert set(dtypes.values()) <= {policy.variable_dtype}, dtypes
    out = layer(x, training=not isinstance(layer, kl.BatchNorm))  # (BN: the fit below checks the statistics)
    assert keras.backend.standardize_dtype(out.dtype) == policy.compute_dtype
    assert _finite(out)
    history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert _variable_dtypes(layer) == dtypes
    assert _finite(model.predict(x, verbose=0))
    if isinstance(layer, kl.BatchNorm):
        # two steps of momentum 0.9 from 0, in float32 on the (rounded) inputs the layer received
        seen = keras.ops.convert_to_numpy(keras.ops.cast(x, policy.compute_dtype)).astype("float64")
        mu1, mu2 = seen[:4].mean(0), seen[4:].mean(0)
        expected = 0.9 * 0.1 * mu1 + 0.1 * mu2
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), expected, rtol=1e-5, atol=1e-7)


def _images(shape=(8, 8, 1), n=8):
    return _x(shape, n), np.arange(n) % 10


MODELS = {
    "mlp_kreg_dropout_batchnorm": lambda: models.mlp(
        (8, 8, 1), 10, hidden=(16, 8), dropout=0.3, dropout_layer=lambda r: kl.Dropout(r, seed=0),
        batchnorm=lambda: kl.BatchNorm()),
    "mlp_torch_init_dropconnect": lambda: models.mlp(
        (8, 8, 1), 10, hidden=(16,), init="torch", dense_layer=lambda u, **kw: kl.DropConnect(u, rate=0.3, **kw)),
    "cnn_groupnorm": lambda: models.cnn((8, 8, 1), 10, filters=(4, 4), norm=lambda: kl.GroupNorm(2), dropout=0.2),
    "softmax_regression": lambda: models.softmax_regression((8, 8, 1), 10, init="torch"),
    "width_sweep_mlp": lambda: models.width_sweep_mlp((8, 8, 1), 10, widths=[2, 5]),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_builder_fit_step(name, policy):
    model = MODELS[name]()
    x, y = _images()
    if name == "width_sweep_mlp":
        y = np.tile(y[:, None], (1, 2))
    models.compile_classifier(model, learning_rate=0.01)
    dtypes = {v.path: v.dtype for v in model.weights}
    assert set(dtypes.values()) <= {policy.variable_dtype}, dtypes
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert {v.path: v.dtype for v in model.weights} == dtypes
    assert _finite(model.predict(x, verbose=0))


def test_regularizers_schedules_initializers_fit_step(policy):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((6,)),
        keras.layers.Dense(5, kernel_regularizer=R.L1(1e-3), kernel_initializer=TorchLinearKernel(),
                           bias_initializer=TorchLinearBias(6)),
        keras.layers.Dense(4, kernel_regularizer=R.L2(1e-3)),
        keras.layers.Dense(1, kernel_regularizer=R.ElasticNet(1e-3, 0.5)),
    ])
    lr = schedules.Scaled(schedules.StepDecay(0.01, step_size=1, steps_per_epoch=2), 0.5)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    x, y = _x((6,)), np.ones((8, 1), "float32")
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert np.isfinite(R.penalty(model)) and R.penalty(model) > 0
    assert all(v.dtype == "float32" for v in model.weights)
