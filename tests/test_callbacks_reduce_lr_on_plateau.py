"""kreg.callbacks.ReduceLROnPlateau: Keras's and torch's decisions, on a float lr and on schedules.

(The replay of Keras's own tests is in test_callbacks_keras_parity.py.)"""

import keras
import numpy as np
import pytest
import torch
from keras import ops

from kreg.callbacks import ReduceLROnPlateau
from kreg.schedules import ExponentialDecay, PiecewiseConstant, Scaled, StepDecay

STEPS = 2
SEQ = [5.0, 4.0, 4.0, 3.9999, 4.1, 3.0, 3.0, 3.0, 3.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5]


def _linear_loss(y_true, y_pred):
    return ops.mean(y_pred)


class Script(keras.callbacks.Callback):
    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = float(self.values[epoch])


def make_model(lr):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss=_linear_loss)
    return model


@pytest.fixture(scope="module")
def float_model():
    return make_model(1.0)


def fit(lr, values, cb, key="val_loss", model=None):
    """Fit SGD on mean(x w), x = 1: returns (used lr per epoch, history, model).

    A float ``lr`` with a ``model`` reuses it (no re-compilation).
    """
    if model is None:
        model = make_model(lr)
    else:
        model.optimizer.learning_rate = lr
        model.set_weights([np.zeros((1, 1), "float32")])
    ws = [0.0]

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ws.append(float(self.model.get_weights()[0].ravel()[0]))

    x = np.ones((2 * STEPS, 1), "float32")
    h = model.fit(x, np.zeros_like(x), batch_size=2, epochs=len(values), shuffle=False, verbose=0,
                  callbacks=[Script(values, key), cb, Record()])
    return -np.diff(ws) / STEPS, h.history, model


def torch_lrs(values, lr0=1.0, **kwargs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    out = []
    for v in values:
        out.append(opt.param_groups[0]["lr"])
        sched.step(v)
    return np.array(out)


CASES = [
    dict(patience=1, factor=0.5),
    dict(patience=0, factor=0.5, cooldown=2),
    dict(patience=2, factor=0.1, min_lr=0.02),
    dict(patience=1, factor=0.5, min_delta=0.01, threshold_mode="rel"),
    dict(patience=1, factor=0.5, cooldown=1, min_delta=0.0),
]


def _torch_kwargs(kw):
    t = dict(kw)
    t["threshold"] = t.pop("min_delta", 1e-4)
    t.setdefault("threshold_mode", "abs")
    return t


@pytest.mark.parametrize("kwargs", CASES)
def test_float_lr_same_decisions_as_torch(kwargs, float_model):
    used, h, _ = fit(1.0, SEQ, ReduceLROnPlateau(semantics="torch", **kwargs), model=float_model)
    ref = torch_lrs(SEQ, **_torch_kwargs(kwargs))
    np.testing.assert_allclose(h["learning_rate"], ref, rtol=1e-6)
    np.testing.assert_allclose(used, ref, rtol=1e-4, atol=1e-6)
    reduced = (np.diff(ref) < 0).astype(float)
    np.testing.assert_array_equal(h["lr_reduced"][:-1], reduced)


def test_mode_max_same_as_torch(float_model):
    seq = [0.5, 0.6, 0.6, 0.55, 0.7, 0.7, 0.7]
    cb = ReduceLROnPlateau(monitor="val_accuracy", patience=1, factor=0.5, mode="max", semantics="torch")
    _, h, _ = fit(1.0, seq, cb, key="val_accuracy", model=float_model)
    np.testing.assert_allclose(h["learning_rate"], torch_lrs(seq, mode="max", patience=1, factor=0.5, threshold=1e-4, threshold_mode="abs"), rtol=1e-6)


def test_torch_semantics_patience_p_is_kerass_patience_p_plus_one(float_model):
    _, h1, _ = fit(1.0, SEQ, ReduceLROnPlateau(patience=1, factor=0.5, semantics="torch"), model=float_model)
    _, h2, _ = fit(1.0, SEQ, keras.callbacks.ReduceLROnPlateau(patience=2, factor=0.5), model=float_model)
    np.testing.assert_allclose(h1["learning_rate"], h2["learning_rate"], rtol=1e-6)


@pytest.mark.parametrize("kwargs", [CASES[1], CASES[4]])  # more cases, without fit: test_callbacks_keras_parity.py
def test_default_semantics_are_kerass_in_fit(kwargs, float_model):
    # issue 14, defect 16: the same arguments give Keras's schedule (kreg 0.1.0 gave torch's)
    kwargs = {k: v for k, v in kwargs.items() if k != "threshold_mode"}
    used, h1, _ = fit(1.0, SEQ, ReduceLROnPlateau(**kwargs), model=float_model)
    _, h2, _ = fit(1.0, SEQ, keras.callbacks.ReduceLROnPlateau(**kwargs), model=float_model)
    np.testing.assert_array_equal(h1["learning_rate"], h2["learning_rate"])
    np.testing.assert_allclose(used, h2["learning_rate"], rtol=1e-4, atol=1e-6)


def test_arguments_in_kerass_positional_order(float_model):
    # keras.callbacks.ReduceLROnPlateau(monitor, factor, patience, verbose, mode, min_delta, cooldown, min_lr)
    args = ("val_loss", 0.5, 1, 0, "min", 0.01, 1, 0.1)
    lrs = []
    for cb in (ReduceLROnPlateau(*args), keras.callbacks.ReduceLROnPlateau(*args)):
        float_model.optimizer.learning_rate = 1.0
        cb.set_model(float_model)
        cb.on_train_begin()
        logs = [{"val_loss": v} for v in SEQ]
        for epoch, log in enumerate(logs):
            cb.on_epoch_end(epoch, log)
        lrs.append([log["learning_rate"] for log in logs])
    np.testing.assert_array_equal(lrs[0], lrs[1])
    assert min(lrs[0]) < 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),  # torch's defaults: mode="min", threshold=1e-4 relative
        dict(patience=1, factor=0.5),
        dict(patience=0, factor=0.5, cooldown=2, threshold=0.01, threshold_mode="abs"),
        dict(patience=1, factor=0.1, min_lr=0.02, eps=0.05),
    ],
)
def test_from_torch_takes_torchs_arguments_and_defaults(kwargs, float_model):
    seq = SEQ + [2.5] * 10
    cb = ReduceLROnPlateau.from_torch(**kwargs)
    assert cb.semantics == "torch"
    _, h, _ = fit(1.0, seq, cb, model=float_model)
    np.testing.assert_allclose(h["learning_rate"], torch_lrs(seq, **kwargs), rtol=1e-6)


SCHEDULES = {
    "StepDecay": (lambda: StepDecay(1.0, step_size=3, gamma=0.5, steps_per_epoch=STEPS), lambda e: 0.5 ** (e // 3)),
    "ExponentialDecay": (lambda: ExponentialDecay(1.0, gamma=2.0, period=4, steps_per_epoch=STEPS), lambda e: 2.0 ** (-e / 4)),
    "PiecewiseConstant": (lambda: PiecewiseConstant([4], [1.0, 0.5], steps_per_epoch=STEPS), lambda e: 1.0 if e < 4 else 0.5),
    "keras.ExponentialDecay": (
        lambda: keras.optimizers.schedules.ExponentialDecay(1.0, decay_steps=STEPS, decay_rate=0.9, staircase=True),
        lambda e: 0.9 ** e,
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_on_a_schedule_scales_it_like_torch(name):
    make, shape = SCHEDULES[name]
    seq = SEQ[:10]
    used, h, model = fit(make(), seq, ReduceLROnPlateau(patience=1, factor=0.5, semantics="torch"))
    scale = torch_lrs(seq, patience=1, factor=0.5, threshold=1e-4, threshold_mode="abs")
    expected = np.array([shape(e) for e in range(len(seq))]) * scale
    assert scale[-1] < 1.0  # it did reduce
    np.testing.assert_allclose(used, expected, rtol=1e-4, atol=1e-6)  # what the compiled step used
    lr = model.optimizer.get_config()["learning_rate"]
    assert lr["registered_name"] == "kreg>Scaled"
    # the saved scale is the current one (after a possible last reduction)
    assert lr["config"]["scale"] <= scale[-1] + 1e-7


def test_on_a_schedule_keras_semantics_scale_it_as_keras_would_a_float(float_model):
    seq = SEQ[:10]
    _, ref, _ = fit(1.0, seq, keras.callbacks.ReduceLROnPlateau(patience=2, factor=0.5, cooldown=1), model=float_model)
    make, shape = SCHEDULES["StepDecay"]
    used, h, _ = fit(make(), seq, ReduceLROnPlateau(patience=2, factor=0.5, cooldown=1))
    scale = np.array(ref["learning_rate"])
    assert scale[-1] < 1.0
    np.testing.assert_allclose(used, np.array([shape(e) for e in range(len(seq))]) * scale, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("semantics", ["keras", "torch"])
def test_min_lr_on_a_schedule_bounds_the_rate_at_the_reduction_step(semantics):
    seq = [1.0] + [2.0] * 7
    used, h, model = fit(StepDecay(1.0, step_size=100, gamma=0.5, steps_per_epoch=STEPS), seq,
                         ReduceLROnPlateau(patience=0, factor=0.1, min_lr=0.05, semantics=semantics))
    np.testing.assert_allclose(used, [1.0, 1.0, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05], rtol=1e-4)
    assert h["lr_reduced"] == [0.0, 1.0, 1.0] + [0.0] * 5


def test_an_existing_scaled_schedule_is_not_wrapped_again():
    cb = ReduceLROnPlateau(patience=0, factor=0.5)
    used, _, model = fit(Scaled(StepDecay(1.0, step_size=10, steps_per_epoch=STEPS)), [1.0, 2.0, 3.0], cb)
    np.testing.assert_allclose(used, [1.0, 1.0, 0.5], rtol=1e-4)
    assert isinstance(model.optimizer.get_config()["learning_rate"], dict)
    assert model.optimizer.get_config()["learning_rate"]["config"]["schedule"]["registered_name"] == "kreg>StepDecay"


def test_missing_metric_warns_and_still_logs_lr(float_model):
    with pytest.warns(UserWarning, match="Available metrics are"):
        _, h, _ = fit(0.5, [1.0, 2.0], ReduceLROnPlateau(monitor="val_nope_loss"), model=float_model)
    assert h["learning_rate"] == [0.5, 0.5]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(factor=1.5), "Invalid value received for argument `factor`. Expected a float in (0.0, 1.0). Received: factor=1.5"),
        (dict(factor=1.0), "Received: factor=1.0"),
        (dict(patience=-1), "Received: patience=-1"),
        (dict(min_lr=-1.0), "Received: min_lr=-1.0"),
        (dict(cooldown=0.5), "Received: cooldown=0.5"),
        (dict(threshold_mode="relative"), "argument `threshold_mode`"),
        (dict(mode="best"), "argument `mode`"),
        (dict(semantics="pytorch"), "Invalid value received for argument `semantics`. Expected one of 'keras', 'torch'. Received: semantics='pytorch'"),
        (dict(verbose=-1), "Received: verbose=-1"),
        (dict(min_delta=-0.1), "Received: min_delta=-0.1"),
        (dict(monitor=None), "Received: monitor=None"),
        (dict(factor="half"), "Received: factor='half'"),
        (dict(patience=True), "Received: patience=True"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError)) as err:
        ReduceLROnPlateau(**kwargs)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(eps=-1.0), "Received: eps=-1.0"),
        (dict(threshold=-1.0), "Invalid value received for argument `threshold`. Expected a float in [0.0, inf]. Received: threshold=-1.0"),
        (dict(threshold_mode="relative"), "Received: threshold_mode='relative'"),
        (dict(min_lr=[0.1, 0.2]), "Received: min_lr=[0.1, 0.2]"),
        (dict(mode="maximize"), "Received: mode='maximize'"),
    ],
)
def test_bad_torch_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError)) as err:
        ReduceLROnPlateau.from_torch(**kwargs)
    assert message in str(err.value)


def test_on_a_schedule_under_mixed_float16_reduces_the_inner_optimizer():
    # issue 14, defect 2: the LossScaleOptimizer's own rate was read, and the
    # first reduction raised "TypeError ... LearningRateSchedule ... not settable"
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = make_model(StepDecay(1.0, step_size=100, steps_per_epoch=STEPS))
        assert hasattr(model.optimizer, "inner_optimizer")  # compile wrapped it
        x = np.ones((2 * STEPS, 1), "float32")
        h = model.fit(x, np.zeros_like(x), batch_size=2, epochs=3, shuffle=False, verbose=0,
                      callbacks=[Script([1.0, 2.0, 3.0]), ReduceLROnPlateau(patience=0, factor=0.5)])
    finally:
        keras.config.set_dtype_policy("float32")
    assert h.history["lr_reduced"] == [0.0, 1.0, 1.0]
    assert h.history["learning_rate"] == pytest.approx([1.0, 1.0, 0.5])
    lr = model.optimizer.inner_optimizer.get_config()["learning_rate"]
    assert lr["registered_name"] == "kreg>Scaled" and lr["config"]["scale"] == pytest.approx(0.25)
