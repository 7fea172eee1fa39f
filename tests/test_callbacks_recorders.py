"""The small recorder callbacks the lessons share: KeepLast, UntilBelow, FitTracker, EpochLR, BatchLosses, Snapshots.

Each runs inside ``model.fit`` with the default ``jit_compile`` on this
backend, is checked against an oracle (numpy, or the model's own
evaluation), resets its state between fits, and rejects bad arguments with
Keras-style messages.
"""

import math

import keras
import numpy as np
import pytest

from kreg.callbacks import (BatchLosses, EarlyStopping, EpochLR, FitTracker, KeepLast, Snapshots, UntilBelow,
                            WeightAveraging)
from kreg.schedules import StepDecay


def _data(n=64, seed=0):
    r = np.random.default_rng(seed)
    x = r.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    return x, y


def _model(lr=0.1, optimizer=None):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a, b)) and len(a) == len(b)


# --- KeepLast ---------------------------------------------------------------------------------------------

def test_keep_last_keeps_the_weights_early_stopping_overwrites():
    x, y = _data()
    model = _model(lr=0.5)
    keep = KeepLast()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=100, restore_best_weights=True,
                                         start_from_epoch=0)
    # a validation set the net cannot improve on for long: the best epoch is early, training runs to the end
    xv, yv = _data(32, seed=1)
    yv = 1 - yv
    h = model.fit(x, y, batch_size=16, epochs=6, verbose=0, validation_data=(xv, yv), callbacks=[keep, stop])
    assert keep.epochs == 6 == len(h.epoch)
    best = int(np.argmin(h.history["val_loss"]))
    assert best < 5
    restored = model.get_weights()
    model.set_weights(keep.weights)
    last_val = model.evaluate(xv, yv, verbose=0)[0]
    assert last_val == pytest.approx(h.history["val_loss"][-1], rel=1e-4)
    assert not _same(restored, keep.weights)
    # a second fit starts afresh
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[keep])
    assert keep.epochs == 1 and _same(keep.weights, model.get_weights())


# --- UntilBelow -------------------------------------------------------------------------------------------

def test_until_below_stops_at_the_first_epoch_below_the_threshold():
    x, y = _data()
    model = _model(lr=0.2)
    probe = _model(lr=0.2)
    probe.set_weights(model.get_weights())
    keras.utils.set_random_seed(7)
    free = probe.fit(x, y, batch_size=16, epochs=8, verbose=0, validation_data=(x, y), shuffle=False)
    curve = free.history["val_loss"]
    threshold = float(curve[3]) + 1e-6  # reached at epoch index <= 3
    first = next(i for i, v in enumerate(curve) if v < threshold)
    keras.utils.set_random_seed(7)
    cb = UntilBelow(threshold, monitor="val_loss")
    h = model.fit(x, y, batch_size=16, epochs=8, verbose=0, validation_data=(x, y), shuffle=False, callbacks=[cb])
    assert cb.reached == first and len(h.epoch) == first + 1
    assert h.history["until_below_reached"] == [0.0] * first + [1.0]
    # never reached: runs all epochs, reached is None (and is reset from the previous fit)
    cb2 = UntilBelow(-1.0)
    cb2.reached = 3
    h2 = model.fit(x, y, batch_size=16, epochs=2, verbose=0, validation_data=(x, y), callbacks=[cb2])
    assert cb2.reached is None and len(h2.epoch) == 2


def test_until_below_warns_with_the_available_keys():
    x, y = _data()
    with pytest.warns(UserWarning, match="`val_loss` which is not available. Available metrics are: .*accuracy"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[UntilBelow(0.1)])


# --- FitTracker -------------------------------------------------------------------------------------------

def test_fit_tracker_measures_inference_accuracy_and_stops_once_fitted():
    x, y = _data()
    model = _model(lr=0.5)
    tracker = FitTracker(x, y, threshold=1.0, batch_size=16, stop=False)
    h = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[tracker])
    oracle = float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
    assert tracker.accuracy[-1] == pytest.approx(oracle) and h.history["fit_accuracy"] == tracker.accuracy
    # threshold 0: fitted after the first epoch, and training stops there
    stopper = FitTracker(x, keras.utils.to_categorical(y, 2), threshold=0.0)
    h = model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[stopper])
    assert stopper.fitted_at == 1 and len(h.epoch) == 1
    # unreachable threshold with stop: never fitted, all epochs run
    never = FitTracker(x, 1 - y, threshold=1.0)
    h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[never])
    assert never.fitted_at is None and len(h.epoch) == 2


def test_predict_arrays_equals_model_predict_in_uneven_chunks_and_falls_back_for_other_inputs():
    """FitTracker's and the harness's predictions: predict_on_batch chunks give model.predict's numbers."""
    from kreg._predict import predict_arrays

    x, _ = _data(n=37)
    model = _model()
    model.predict_on_batch(x[:2])
    np.testing.assert_allclose(predict_arrays(model, x, 16), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    calls = []
    real = model.predict_on_batch
    model.predict_on_batch = lambda b: calls.append(len(b)) or real(b)
    predict_arrays(model, x, 16)
    assert calls == [16, 16, 5]  # the rows in order, in chunks of batch_size
    inp = keras.Input((4,))
    h = keras.layers.Dense(3)(inp)
    two = keras.Model(inp, [h, keras.layers.Dense(2)(h)])  # several outputs: each concatenated
    got, want = predict_arrays(two, x, 10), two.predict(x, verbose=0)
    assert len(got) == 2
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    a = keras.Input((4,), name="a")
    named = keras.Model({"a": a}, keras.layers.Dense(2)(a))  # dict input: model.predict, no chunking
    real_named = named.predict_on_batch
    calls.clear()
    named.predict_on_batch = lambda b: calls.append(1) or real_named(b)
    assert predict_arrays(named, {"a": x}, 16).shape == (37, 2) and calls == []


# --- EpochLR ----------------------------------------------------------------------------------------------

def test_epoch_lr_logs_the_rate_in_force_during_each_epoch():
    x, y = _data()
    steps = 4  # 64 examples / batch 16
    schedule = StepDecay(0.4, step_size=2, gamma=0.5, steps_per_epoch=steps)
    model = _model(optimizer=keras.optimizers.SGD(schedule))
    cb = EpochLR()
    h = model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[cb])
    assert h.history["epoch_lr"] == pytest.approx([0.4, 0.4, 0.2, 0.2, 0.1])
    assert cb.rates == h.history["epoch_lr"]
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[cb])
    assert cb.rates == pytest.approx([0.1])


# --- BatchLosses ------------------------------------------------------------------------------------------

def test_batch_losses_recover_the_loss_of_every_step():
    x, y = _data()
    model = _model(lr=0.0)  # weights never move: every step's loss is the loss of its batch at the start
    cb = BatchLosses()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False, callbacks=[cb])
    per_batch = [model.evaluate(x[i:i + 16], y[i:i + 16], verbose=0)[0] for i in range(0, 64, 16)]
    assert cb.losses == pytest.approx(per_batch * 2, rel=1e-4)
    assert cb.epochs == [0] * 4 + [1] * 4 and cb.steps == [1, 2, 3, 4] * 2


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="Keras's PyTorch trainer rejects steps_per_execution > 1 (keras/src/backend/torch/trainer.py)")
def test_batch_losses_with_steps_per_execution_give_chunk_means():
    x, y = _data()
    model = _model(lr=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy", steps_per_execution=2)
    cb = BatchLosses()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False, callbacks=[cb])
    per_batch = [model.evaluate(x[i:i + 16], y[i:i + 16], verbose=0) for i in range(0, 64, 16)]
    per_batch = [v[0] if isinstance(v, list) else v for v in per_batch]
    chunks = [(per_batch[0] + per_batch[1]) / 2, (per_batch[2] + per_batch[3]) / 2]
    assert cb.steps == [2, 4] and cb.losses == pytest.approx(chunks, rel=1e-4)


# --- Snapshots --------------------------------------------------------------------------------------------

def test_snapshots_keep_raw_and_averaged_weights():
    x, y = _data()
    model = _model(lr=0.2)
    ema = WeightAveraging(mode="ema", decay=0.5)
    snaps = Snapshots(every=2, ema=ema)
    model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[ema, snaps])
    assert snaps.epochs == [2, 4, 5] and len(snaps.weights) == 3 and len(snaps.averaged) == 3
    # the raw snapshot of epoch 2 differs from that of epoch 4; the last one is the model's weights unless
    # the average was swapped in at the end
    assert not _same(snaps.weights[0], snaps.weights[1])
    assert [a.shape for a in snaps.averaged[-1]] == [tuple(v.shape) for v in model.trainable_weights]
    snaps2 = Snapshots()
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[snaps2])
    assert snaps2.epochs == [1, 2] and snaps2.averaged == []
    assert _same(snaps2.weights[-1], model.get_weights())


# --- all of them: mixed precision and bad arguments ----------------------------------------------------------

@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_recorders_under_mixed_precision(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        x, y = _data()
        try:
            model = _model(lr=0.1)
            model.fit(x[:16], y[:16], batch_size=16, epochs=1, verbose=0)
        except Exception as err:  # noqa: BLE001 - Keras itself cannot train under the policy here
            pytest.skip(f"{keras.backend.backend()} does not train under {policy} on this machine: {err}"[:200])
        cbs = [KeepLast(), BatchLosses(), EpochLR(), FitTracker(x, y, stop=False), Snapshots(),
               UntilBelow(-1.0, monitor="loss")]
        h = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=cbs)
        assert all(math.isfinite(v) for v in cbs[1].losses) and len(cbs[1].losses) == 8
        assert all(math.isfinite(v) for v in h.history["epoch_lr"] + h.history["fit_accuracy"])
        assert all(w.dtype == np.float32 for w in cbs[0].weights)
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.mark.parametrize("make, match", [
    (lambda: UntilBelow(float("nan")), r"`threshold`.*Received: threshold=nan"),
    (lambda: UntilBelow("0.1"), r"`threshold`.*Received: threshold='0.1'"),
    (lambda: UntilBelow(0.1, monitor=""), r"`monitor`.*Received: monitor=''"),
    (lambda: UntilBelow(0.1, verbose=2), r"`verbose`.*Received: verbose=2"),
    (lambda: FitTracker(np.zeros((4, 2)), np.zeros(3)), r"`y`.*len\(x\) = 4"),
    (lambda: FitTracker(np.zeros((4, 2)), np.zeros(4), threshold=1.5), r"`threshold`.*Received: threshold=1.5"),
    (lambda: FitTracker(np.zeros((4, 2)), np.zeros(4), batch_size=0), r"`batch_size`.*Received: batch_size=0"),
    (lambda: FitTracker(np.zeros((4, 2)), np.zeros(4), stop="yes"), r"`stop`.*Received: stop='yes'"),
    (lambda: Snapshots(every=0), r"`every`.*Received: every=0"),
    (lambda: Snapshots(ema="ema"), r"`ema`.*Received: ema='ema'"),
])
def test_bad_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
