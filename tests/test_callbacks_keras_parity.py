"""kreg's EarlyStopping and ReduceLROnPlateau make Keras 3's decisions for Keras's arguments.

The scenarios of Keras's own tests (keras/src/callbacks/early_stopping_test.py
and reduce_lr_on_plateau_test.py), written anew and run against
``keras.callbacks.X`` and ``kreg.callbacks.X`` side by side, plus random
sequences of monitored values compared decision by decision.
"""

import keras
import numpy as np
import pytest

from kreg.callbacks import EarlyStopping, ReduceLROnPlateau

# --------------------------------------------------------------------------
# helpers


class EpochWeights:
    """A stand-in model whose "weights" are the index of the epoch they come from."""

    def __init__(self):
        self.stop_training = False
        self.weights = -1

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def drive_early_stopping(cb, values, *, stop_at=None, key="val_loss"):
    """Feed ``values`` as epoch logs; returns (epochs run, stopped_epoch, final weights)."""
    cb.set_model(EpochWeights())
    cb.on_train_begin()
    run = 0
    for epoch, value in enumerate(values):
        run += 1
        cb.model.weights = epoch
        cb.on_epoch_end(epoch, {key: value})
        if stop_at is not None and epoch == stop_at:
            cb.model.stop_training = True
        if cb.model.stop_training:
            break
    cb.on_train_end()
    stopped = cb.stopped_epoch if cb.model.stop_training and (stop_at is None or cb.stopped_epoch > 0) else None
    return run, stopped, cb.model.get_weights()


def both_early_stopping(values, **kwargs):
    kwargs.setdefault("restore_best_weights", True)
    ours = drive_early_stopping(EarlyStopping(**kwargs), values)
    theirs = drive_early_stopping(keras.callbacks.EarlyStopping(**kwargs), values)
    return ours, theirs


@pytest.fixture(scope="module")
def lr_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def drive_reduce_lr(cb, model, values, lr=0.1):
    """Feed ``values`` as epoch logs; returns the learning rate after every epoch."""
    model.optimizer.learning_rate = lr
    cb.set_model(model)
    cb.on_train_begin()
    out = []
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {"val_loss": value})
        out.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return np.array(out)


# --------------------------------------------------------------------------
# EarlyStopping: Keras's test scenarios

@pytest.fixture(scope="module")
def metrics_model():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="relu"),
                              keras.layers.Dense(1, activation="relu")])
    model.compile(loss="mae", optimizer="adam",
                  metrics=["mse", "acc", "accuracy", "hinge", keras.metrics.F1Score(name="f1_score"),
                           keras.metrics.R2Score(name="r2_score")])
    x = np.random.default_rng(0).random((10, 5)).astype("float32")
    y = np.random.default_rng(1).random((10, 1)).astype("float32")
    model.fit(x, y, batch_size=5, epochs=1, verbose=0)  # builds the compiled metrics on every backend
    return model, x, y


AUTO_CASES = [
    ("max", "val_mse", "max"),
    ("min", "val_loss", "min"),
    ("auto", "val_mse", "min"),
    ("auto", "loss", "min"),
    ("auto", "acc", "max"),
    ("auto", "val_accuracy", "max"),
    ("auto", "hinge", "min"),
    ("auto", "f1_score", "max"),
    ("auto", "val_r2_score", "max"),
]


def test_auto_mode_is_the_compiled_metrics_direction(metrics_model):
    model, x, y = metrics_model
    pairs = [(cls(monitor=monitor, mode=mode), getattr(keras.callbacks, cls.__name__)(monitor=monitor, mode=mode), expected)
             for cls in (EarlyStopping, ReduceLROnPlateau) for mode, monitor, expected in AUTO_CASES]
    model.fit(x, y, batch_size=5, epochs=2, verbose=0, validation_data=(x, y),
              callbacks=[cb for ours, theirs, _ in pairs for cb in (ours, theirs)])
    for ours, theirs, expected in pairs:
        assert ours._mode == expected, (type(ours).__name__, ours.monitor)
        assert theirs.monitor_op == (keras.ops.greater if expected == "max" else keras.ops.less)


@pytest.mark.parametrize("cls", [EarlyStopping, ReduceLROnPlateau])
def test_unknown_monitor_raises_kerass_error_before_training(metrics_model, cls):
    model, x, y = metrics_model
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: steps.append(b))
    with pytest.raises(ValueError, match="monitor=unknown, but Keras isn't able to automatically determine"):
        model.fit(x, y, batch_size=5, epochs=2, verbose=0, callbacks=[counter, cls(monitor="unknown")])
    # the compiled metrics are already built (the fixture fitted once): no step was taken
    assert steps == []


@pytest.mark.parametrize("cls", [EarlyStopping, ReduceLROnPlateau])
def test_unknown_monitor_on_a_fresh_model_fails_within_the_first_step(cls):
    # Under JAX and PyTorch the compiled metrics are built before on_train_begin;
    # under TensorFlow by the first train step, right after which kreg decides.
    x, y = _regression_data()
    model = _small_model(optimizer="sgd", loss="mae", metrics=["mse"])
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: steps.append(b))
    with pytest.raises(ValueError, match="monitor=val_msee, but Keras isn't able"):
        model.fit(x, y, batch_size=5, epochs=3, verbose=0, validation_data=(x, y),
                  callbacks=[counter, cls(monitor="val_msee")])
    assert len(steps) <= 1
    # the same model, with the metric spelled right, decides from its direction
    cb = cls(monitor="val_mse")
    model.fit(x, y, batch_size=5, epochs=1, verbose=0, validation_data=(x, y), callbacks=[cb])
    assert cb._mode == "min"


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_patience(patience):
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    stopped = []
    for cb in (EarlyStopping(monitor="loss", patience=patience), keras.callbacks.EarlyStopping(monitor="loss", patience=patience)):
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile(loss="mse", optimizer="sgd")
        cb.set_model(model)
        cb.on_train_begin()
        for epoch, loss in enumerate(losses):
            cb.on_epoch_end(epoch, {"loss": loss})
            if model.stop_training:
                break
        stopped.append(cb.stopped_epoch)
    assert stopped == [max(patience, 1) + 2] * 2


def _regression_data(n=10, seed=0):
    r = np.random.default_rng(seed)
    return r.random((n, 5)).astype("float32"), r.random((n, 1)).astype("float32")


def _small_model(**compile_kwargs):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, activation="relu"),
                              keras.layers.Dense(1, activation="relu")])
    model.compile(**compile_kwargs)
    return model


@pytest.fixture(scope="module")
def mse_model():
    """One compiled model for the fits below (re-tracing per test is most of TensorFlow's time)."""
    return _small_model(optimizer="sgd", loss="mae", metrics=["mse"])


def test_reuse_across_fits(mse_model):
    x, y = _regression_data(100)
    y = (x[:, :1] > 0.5).astype("float32")
    model = mse_model
    stopper = EarlyStopping(monitor="mse", patience=3)
    assert len(model.fit(x, y, callbacks=[stopper], verbose=0, epochs=6).epoch) >= 3
    assert len(model.fit(x, y, callbacks=[stopper], verbose=0, epochs=6).epoch) >= 3


def test_state_is_reset_by_on_train_begin():
    for cb in (EarlyStopping(monitor="loss", patience=3), keras.callbacks.EarlyStopping(monitor="loss", patience=3)):
        cb.set_model(keras.Sequential())
        cb.on_train_begin()
        cb.best, cb.wait, cb.best_weights = 0.1, 3, object()
        cb.on_train_begin()
        assert cb.best is None and cb.wait == 0 and cb.best_weights is None


@pytest.mark.parametrize("start_from_epoch, patience", [(0, 3), (2, 3), (2, 0)])
def test_baseline_and_start_from_epoch_in_fit(mse_model, start_from_epoch, patience):
    x, y = _regression_data()
    model = mse_model
    stopper = EarlyStopping(monitor="mse", patience=patience, baseline=0.6 if start_from_epoch == 0 else None,
                            start_from_epoch=start_from_epoch)
    history = model.fit(x, y, callbacks=[stopper], verbose=0, epochs=8)
    assert len(history.epoch) >= max(patience, start_from_epoch)


@pytest.mark.parametrize(
    "values, kwargs, stop_at, expected",
    [
        # best at epoch 2, patience 2: stop at epoch 4, restore epoch 2
        ([0.2, 0.15, 0.1, 0.11, 0.12], dict(patience=2), None, (5, 4, 2)),
        # nothing beats the baseline: 5 epochs counted, the best of them restored
        ([0.9, 0.8, 0.7, 0.71, 0.72, 0.73], dict(patience=5, baseline=0.5), None, (5, 4, 2)),
        # another callback stops at epoch 3: the best is still restored
        ([0.9, 0.8, 0.7, 0.71, 0.72, 0.73], dict(patience=5, baseline=0.5), 3, (4, None, 2)),
    ],
)
def test_final_weights_when_restoring(values, kwargs, stop_at, expected):
    for cls in (EarlyStopping, keras.callbacks.EarlyStopping):
        got = drive_early_stopping(cls(restore_best_weights=True, **kwargs), values, stop_at=stop_at)
        assert got == expected, cls


# --------------------------------------------------------------------------
# EarlyStopping: the same decisions on random sequences

def _random_sequences(n, length, seed):
    r = np.random.default_rng(seed)
    for _ in range(n):
        steps = r.choice([-0.3, -0.05, -0.001, 0.0, 0.02, 0.2], size=length)
        yield [float(v) for v in np.round(2.0 + np.cumsum(steps), 4)]  # Python floats, as fit's logs


@pytest.mark.parametrize("seed", range(4))
def test_early_stopping_same_decisions_as_keras_on_random_sequences(seed):
    r = np.random.default_rng(100 + seed)
    for values in _random_sequences(15, 12, seed):
        kwargs = dict(
            patience=int(r.integers(0, 4)),
            min_delta=float(r.choice([0.0, 0.01, -0.05])),
            baseline=[None, 1.9, 2.5][int(r.integers(0, 3))],
            start_from_epoch=int(r.integers(0, 3)),
            mode=str(r.choice(["min", "max", "auto"])),
        )
        ours, theirs = both_early_stopping(values, **kwargs)
        assert ours == theirs, (values, kwargs)


def test_baseline_never_stops_on_an_improving_epoch():
    # kreg 0.1.0 stopped this run at epoch 2; Keras (and kreg 0.2) run it to the end
    ours, theirs = both_early_stopping([5, 4, 3, 2, 1.5, 0.5], patience=3, baseline=1.0)
    assert ours == theirs == (6, None, 5)


# --------------------------------------------------------------------------
# ReduceLROnPlateau: Keras's test scenarios, in fit


@pytest.fixture(scope="module")
def adam_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5), keras.layers.Dense(2)])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(0.1))
    return model, model.get_weights()


def _rlrop_fit(adam_model, cb, epochs):
    model, initial = adam_model
    model.set_weights(initial)
    model.optimizer.learning_rate = 0.1
    r = np.random.default_rng(0)
    x = r.random((10, 3)).astype("float32")
    y = keras.utils.to_categorical(r.integers(0, 2, 10), 2)
    model.fit(x, y, validation_data=(x, y), callbacks=[cb], epochs=epochs, verbose=0)
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


@pytest.mark.parametrize(
    "kwargs, epochs, expected",
    [
        (dict(patience=1, factor=0.1, min_delta=100), 2, 0.01),  # reduces with model.fit
        (dict(patience=1, factor=0.1, min_delta=10, min_lr=0.005), 4, 0.005),  # honors min_lr
        (dict(patience=1, factor=0.1, min_delta=100, cooldown=2), 4, 0.001),  # cooldown: every other epoch
    ],
)
def test_reduce_lr_scenarios_in_fit(adam_model, kwargs, epochs, expected):
    ours = _rlrop_fit(adam_model, ReduceLROnPlateau(monitor="val_loss", **kwargs), epochs)
    theirs = _rlrop_fit(adam_model, keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **kwargs), epochs)
    assert ours == pytest.approx(expected, rel=1e-6)
    assert ours == theirs


def test_reduce_lr_verbose_logging(adam_model, caplog):
    cb = ReduceLROnPlateau(patience=1, factor=0.1, monitor="val_loss", min_delta=100, verbose=1)
    interactive = keras.config.is_interactive_logging_enabled()
    keras.config.disable_interactive_logging()
    try:
        with caplog.at_level("INFO"), caplog.at_level("INFO", logger="absl"):
            _rlrop_fit(adam_model, cb, 2)
    finally:
        if interactive:
            keras.config.enable_interactive_logging()
    assert any("ReduceLROnPlateau reducing learning rate to 0.01" in r.getMessage() for r in caplog.records)


def test_reduce_lr_state_is_reset_by_on_train_begin(lr_model):
    cb = ReduceLROnPlateau(patience=1, factor=0.1, monitor="loss", min_delta=0, cooldown=2)
    cb.set_model(lr_model)
    cb.on_train_begin()
    cb.best, cb.wait, cb.cooldown_counter = 0.5, 3, 2
    cb.on_train_begin()
    assert cb.best is None and cb.wait == 0 and cb.cooldown_counter == 0


def test_on_a_schedule_kreg_scales_it_where_keras_raises():
    # A departure by design: Keras raises TypeError; kreg multiplies the schedule.
    sched = keras.optimizers.schedules.PolynomialDecay(initial_learning_rate=0.1, decay_steps=10)
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    for cb, raises in ((keras.callbacks.ReduceLROnPlateau(patience=1, min_delta=100), True),
                       (ReduceLROnPlateau(patience=1, min_delta=100), False)):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.compile(loss="mse", optimizer=keras.optimizers.Adam(sched))
        if raises:
            with pytest.raises(TypeError, match="This optimizer was created with a `LearningRateSchedule`"):
                model.fit(x, y, validation_data=(x, y), callbacks=[cb], epochs=2, verbose=0)
        else:
            h = model.fit(x, y, validation_data=(x, y), callbacks=[cb], epochs=2, verbose=0)
            assert h.history["lr_reduced"] == [0.0, 1.0]


# --------------------------------------------------------------------------
# ReduceLROnPlateau: the same decisions on random sequences


@pytest.mark.parametrize("seed", range(4))
def test_reduce_lr_same_decisions_as_keras_on_random_sequences(lr_model, seed):
    r = np.random.default_rng(200 + seed)
    for values in _random_sequences(10, 14, seed):
        kwargs = dict(
            factor=float(r.choice([0.5, 0.1])),
            patience=int(r.integers(0, 4)),
            cooldown=int(r.integers(0, 4)),
            min_delta=float(r.choice([0.0, 1e-4, 0.05])),
            min_lr=float(r.choice([0.0, 0.01, 0.05])),
            mode=str(r.choice(["min", "max", "auto"])),
        )
        ours = drive_reduce_lr(ReduceLROnPlateau(**kwargs), lr_model, values)
        theirs = drive_reduce_lr(keras.callbacks.ReduceLROnPlateau(**kwargs), lr_model, values)
        np.testing.assert_array_equal(ours, theirs, err_msg=str((values, kwargs)))
