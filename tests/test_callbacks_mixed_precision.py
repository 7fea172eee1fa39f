"""Every public kreg callback runs a model.fit under mixed_float16 and mixed_bfloat16.

On each backend where Keras itself trains under the policy on CPU (probed
with a plain Dense model; the test is skipped where it does not). Checked:
the losses are finite, the model's variables keep their float32 dtype, the
batch-norm statistics stay float32, and what the callback logs is finite.
"""

import math

import keras
import numpy as np
import pytest

from kreg.callbacks import EarlyStopping, LearningCurves, ReduceLROnPlateau, WeightAveraging
from kreg.schedules import StepDecay

POLICIES = ["mixed_float16", "mixed_bfloat16"]
STEPS = 2


def _data(n=8, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")


_SUPPORT = {}


def _supported(policy):
    """Whether Keras trains a plain Dense model under ``policy`` on this backend."""
    if policy not in _SUPPORT:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
            x, y = _data()
            model.fit(x, y, batch_size=4, epochs=1, verbose=0)
            _SUPPORT[policy] = True
        except Exception as err:  # noqa: BLE001 - any failure of Keras itself means "unsupported"
            _SUPPORT[policy] = f"{type(err).__name__}: {err}"[:200]
        finally:
            keras.config.set_dtype_policy(previous)
    return _SUPPORT[policy]


@pytest.fixture(params=POLICIES)
def policy(request):
    support = _supported(request.param)
    if support is not True:
        pytest.skip(f"{keras.backend.backend()} does not train under {request.param} on this machine: {support}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(previous)


def _model(learning_rate=0.05):
    model = keras.Sequential([
        keras.Input((3,)),
        keras.layers.Dense(4, activation="tanh"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse", metrics=["mae"])
    return model


def _fit(model, callbacks, epochs=2):
    x, y = _data(4 * STEPS)
    xv, yv = _data(8, seed=1)
    return model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, shuffle=False,
                     validation_data=(xv, yv), callbacks=callbacks)


def _check_model(model, history, policy):
    assert model.dtype_policy.name == policy
    for key in ("loss", "val_loss"):
        assert all(math.isfinite(v) for v in history.history[key]), (key, history.history[key])
    for v in model.variables:
        assert v.dtype == "float32", (v.path, v.dtype)
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(v))), v.path
    bn = model.layers[1]
    for v in (bn.moving_mean, bn.moving_variance):
        assert keras.ops.convert_to_numpy(v).dtype == np.float32


def _finite(history, key):
    values = history.history[key]
    assert values and all(math.isfinite(float(v)) for v in values), (key, values)


def test_early_stopping(policy):
    model = _model()
    cb = EarlyStopping(patience=0, min_delta=100.0)  # stops after the second epoch
    h = _fit(model, [cb], epochs=3)
    _check_model(model, h, policy)
    assert cb.stopped_epoch == 1 and cb.best_epoch == 0
    _finite(h, "best_value")


@pytest.mark.parametrize("schedule, semantics", [(False, "keras"), (True, "torch")], ids=["float-keras", "schedule-torch"])
def test_reduce_lr_on_plateau(policy, schedule, semantics):
    lr = StepDecay(0.05, step_size=10, steps_per_epoch=STEPS) if schedule else 0.05
    model = _model(lr)
    cb = ReduceLROnPlateau(patience=0, factor=0.5, min_delta=100.0, semantics=semantics)
    h = _fit(model, [cb])
    _check_model(model, h, policy)
    assert h.history["lr_reduced"] == [0.0, 1.0]
    np.testing.assert_allclose(h.history["learning_rate"], [0.05, 0.05], rtol=1e-6)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.025, rel=1e-6)


def test_learning_curves(policy, tmp_path):
    model = _model()
    cb = LearningCurves(directory=str(tmp_path))
    h = _fit(model, [cb])
    _check_model(model, h, policy)
    for key in ("penalty", "data_loss", "val_data_loss", "learning_rate", "weight_norm"):
        _finite(h, key)
    assert (tmp_path / "learning_curves.json").exists()


@pytest.mark.parametrize("kwargs", [dict(mode="ema", decay=0.5, swap_on_epoch=True), dict(mode="swa")],
                         ids=["ema-swap", "swa"])
def test_weight_averaging(policy, kwargs):
    model = _model()
    x, _ = _data(8)
    cb = WeightAveraging(bn_data=x, bn_batch_size=4, **kwargs)
    h = _fit(model, [cb])
    _check_model(model, h, policy)
    assert cb.num_averaged == (2 * STEPS if kwargs["mode"] == "ema" else 2)
    for avg, v in zip(cb.averaged_weights, model.trainable_weights):
        assert avg.dtype == np.float64 and np.all(np.isfinite(avg))
        # the model ends with the average, rounded to its float32 variables
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), avg, rtol=1e-6, atol=1e-7)
