"""kreg.callbacks.EarlyStopping on scripted validation-loss sequences."""

import os
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from kreg.callbacks import EarlyStopping, WeightAveraging

N = 4  # samples; one step per epoch with batch_size=N


def _linear_loss(y_true, y_pred):
    return ops.mean(y_pred)


class Script(keras.callbacks.Callback):
    """Overwrite logs[key] with a scripted sequence (listed before the monitor)."""

    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = float(self.values[epoch])


def make_model(**opt_kwargs):
    # SGD(lr=1) on mean(x w) with x = 1: after epoch e the weight is -(e + 1),
    # so the weights identify the epoch they come from.
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(1.0, **opt_kwargs), loss=_linear_loss)
    return model


@pytest.fixture(scope="module")
def model():
    return make_model()


def run(model, values, callbacks, epochs=None, key="val_loss"):
    model.set_weights([np.zeros((1, 1), "float32")])
    x = np.ones((N, 1), "float32")
    history = model.fit(x, np.zeros((N, 1), "float32"), batch_size=N, epochs=epochs or len(values),
                        verbose=0, shuffle=False, callbacks=[Script(values, key), *callbacks])
    return history.history, float(model.get_weights()[0].ravel()[0])


def epoch_of(w):
    return int(round(-w)) - 1


def test_stops_and_restores_exactly_the_best_epoch(model):
    es = EarlyStopping(patience=2)
    h, w = run(model, [5, 4, 3, 3.5, 3.2, 3.1, 1, 1], [es])
    assert len(h["loss"]) == 5  # epochs 3 and 4 are bad -> stop at epoch 4
    assert (es.best_epoch, es.best_value, es.stopped_epoch) == (2, 3.0, 4)
    assert epoch_of(w) == 2
    assert h["best_epoch"] == [0, 1, 2, 2, 2]
    assert h["stopped_epoch"] == [-1, -1, -1, -1, 4]
    assert h["best_value"][-1] == 3.0


def test_restores_best_even_without_stopping(model):
    es = EarlyStopping(patience=10)
    h, w = run(model, [3, 1, 2, 2.5], [es])
    assert len(h["loss"]) == 4 and es.stopped_epoch == -1
    assert epoch_of(w) == 1


def test_restore_false_keeps_last_weights(model):
    _, w = run(model, [3, 1, 2, 2.5], [EarlyStopping(patience=10, restore_best_weights=False)])
    assert epoch_of(w) == 3


def test_min_delta_and_mode_max(model):
    es = EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05, mode="max")
    h, w = run(model, [0.5, 0.52, 0.6, 0.61, 0.7], [es], key="val_accuracy")
    # 0.52 is not > 0.5 + 0.05 -> stop at epoch 1; best is epoch 0
    assert len(h["loss"]) == 2 and epoch_of(w) == 0


def test_start_from_epoch_ignores_warm_up(model):
    es = EarlyStopping(patience=1, start_from_epoch=2)
    h, w = run(model, [0.1, 0.2, 5, 4, 4.5, 1], [es])
    # epochs 0, 1 ignored (their low values can't be best); best 3; stop at 4
    assert (es.best_epoch, es.stopped_epoch) == (3, 4)
    assert epoch_of(w) == 3
    assert h["best_epoch"][:2] == [-1, -1] and np.isnan(h["best_value"][0])


def test_baseline_counts_epochs_that_do_not_beat_it(model):
    # Keras's meaning: epochs that improve but stay above the baseline are
    # counted; the run stops at the first epoch without improvement after that
    es = EarlyStopping(patience=3, baseline=1.0)
    h, w = run(model, [5, 4, 3, 3.5, 2, 0.5], [es])
    assert len(h["loss"]) == 4 and es.stopped_epoch == 3
    assert epoch_of(w) == 2  # best epoch so far
    # an improving epoch never stops training (kreg 0.1.0 stopped this run at epoch 2)
    es = EarlyStopping(patience=3, baseline=1.0)
    h, w = run(model, [5, 4, 3, 2, 1.5, 0.5], [es])
    assert len(h["loss"]) == 6 and es.stopped_epoch == -1 and epoch_of(w) == 5


def test_a_nan_first_value_is_never_the_best(model):
    # issue 14, defect 12: Keras keeps the NaN as best, stops at epoch 2 and restores epoch 0
    es = EarlyStopping(patience=2)
    h, w = run(model, [float("nan"), 1.0, 0.5, 0.4, 0.3], [es])
    assert len(h["loss"]) == 5 and es.stopped_epoch == -1
    assert (es.best_epoch, es.best_value) == (4, 0.3) and epoch_of(w) == 4
    assert h["best_epoch"] == [-1, 1, 2, 3, 4] and np.isnan(h["best_value"][0])
    # NaN epochs count as epochs without improvement
    es = EarlyStopping(patience=2)
    h, w = run(model, [1.0, float("nan"), float("nan"), 0.5], [es])
    assert es.stopped_epoch == 2 and epoch_of(w) == 0
    # all NaN: nothing to restore, the final weights stay
    es = EarlyStopping(patience=5)
    _, w = run(model, [float("nan")] * 3, [es])
    assert es.best_epoch == -1 and epoch_of(w) == 2


@pytest.mark.parametrize("key", ["val_decoder2_loss", "val_layer2_loss", "val_previous_loss", "val_f1_loss", "val_iou_loss"])
def test_auto_mode_minimizes_keys_ending_in_loss(model, key):
    # issue 14, defect 8: "r2", "iou", "f1" inside a loss's name made kreg 0.1.0 maximize it
    es = EarlyStopping(monitor=key, patience=0)
    h, w = run(model, [3.0, 2.0, 1.0], [es], key=key)
    assert es._mode == "min"
    assert len(h["loss"]) == 3 and epoch_of(w) == 2


def test_arguments_in_kerass_positional_order(model):
    # keras.callbacks.EarlyStopping(monitor, min_delta, patience, verbose, mode, baseline,
    # restore_best_weights, start_from_epoch)
    args = ("val_loss", 0.0, 1, 0, "min", None, True, 1)
    h1, w1 = run(model, [0.1, 5, 4, 4.5, 4.4], [EarlyStopping(*args)])
    h2, w2 = run(model, [0.1, 5, 4, 4.5, 4.4], [keras.callbacks.EarlyStopping(*args)])
    assert len(h1["loss"]) == len(h2["loss"]) == 4 and w1 == w2


@pytest.mark.parametrize(
    "values, kwargs",
    [
        ([5, 4, 3, 3.5, 3.2, 3.1, 1, 1], dict(patience=2)),
        ([1, 2, 3, 4], dict(patience=0)),
        ([3, 2, 2.05, 2.01, 1.0, 1.0], dict(patience=2, min_delta=0.1)),
        ([5, 6, 7, 0.5], dict(patience=2, baseline=1.0)),
        ([5, 0.5, 0.7, 0.8, 0.2], dict(patience=2, baseline=1.0)),
        ([0.1, 0.2, 5, 4, 4.5, 1], dict(patience=1, start_from_epoch=2)),
        ([5, 4, 3, 2, 1.5, 0.5], dict(patience=3, baseline=1.0)),
        ([5, 4, 3, 3.5, 2, 0.5], dict(patience=3, baseline=1.0)),
        ([0.5, 0.6, 0.7, 0.65, 0.66], dict(patience=1, mode="max", min_delta=0.05)),
    ],
)
def test_same_decisions_as_keras(model, values, kwargs):
    h1, w1 = run(model, values, [EarlyStopping(**kwargs)])
    h2, w2 = run(model, values, [keras.callbacks.EarlyStopping(restore_best_weights=True, **kwargs)])
    assert len(h1["loss"]) == len(h2["loss"])
    assert w1 == w2


def test_best_weights_on_disk(model, tmp_path):
    path = os.path.join(tmp_path, "sub", "best.weights.h5")
    es = EarlyStopping(patience=2, path=path)
    _, w = run(model, [5, 4, 3, 3.5, 3.2, 3.1], [es])
    assert os.path.exists(path) and es.best_weights is None
    assert epoch_of(w) == 2


def test_reusable_across_fits(model):
    es = EarlyStopping(patience=1)
    run(model, [1, 2, 3], [es])
    assert es.stopped_epoch == 1
    _, w = run(model, [3, 2, 1], [es])
    assert (es.best_epoch, es.stopped_epoch, es.best_value) == (2, -1, 1.0)
    assert epoch_of(w) == 2


def test_missing_metric_warns_with_available_keys(model):
    es = EarlyStopping(monitor="val_acc_missing", mode="max")
    with pytest.warns(UserWarning, match=r"val_acc_missing.*Available metrics are: .*loss"):
        run(model, [1, 2], [es])


def test_early_stopping_wins_over_optimizer_ema():
    m = make_model(use_ema=True, ema_momentum=0.5)
    es = EarlyStopping(patience=10)
    _, w = run(m, [3, 1, 2, 2.5], [es])
    assert epoch_of(w) == 1  # the raw weights of the best epoch, not the EMA


def test_with_weight_averaging_swapped_in_first_it_restores_the_best_average(model):
    wa = WeightAveraging(mode="swa", swap_on_epoch=True)
    es = EarlyStopping(patience=10)
    _, w = run(model, [3, 1, 2, 2.5], [wa, es])
    # SWA average at the end of epoch 1 = mean(-1, -2)
    assert w == pytest.approx(-1.5)
    # the other order: the final average (mean of -1..-4) wins
    _, w = run(model, [3, 1, 2, 2.5], [EarlyStopping(patience=10), WeightAveraging(mode="swa")])
    assert w == pytest.approx(-2.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(patience=-1), "Invalid value received for argument `patience`. Expected an integer >= 0. Received: patience=-1"),
        (dict(mode="up"), "argument `mode`"),
        (dict(monitor=""), "Received: monitor=''"),
        (dict(monitor=3), "Received: monitor=3"),
        (dict(baseline="low"), "Received: baseline='low'"),
        (dict(min_delta=float("nan")), "argument `min_delta`"),
        (dict(verbose=-1), "Received: verbose=-1"),
        (dict(patience=2.0), "Received: patience=2.0"),
        (dict(path=3), "Received: path=3"),
        (dict(start_from_epoch=1.5), "Received: start_from_epoch=1.5"),
        (dict(path="best.h5"), "argument `path`"),
        (dict(restore_best_weights=1), "argument `restore_best_weights`"),
        (dict(min_delta="a"), "argument `min_delta`"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError)) as err:
        EarlyStopping(**kwargs)
    assert message in str(err.value)


def test_public_names():
    import kreg.callbacks

    assert sorted(kreg.callbacks.__all__) == ["BatchLosses", "EarlyStopping", "EpochLR", "FitTracker", "KeepLast",
                                              "LearningCurves", "ReduceLROnPlateau", "Snapshots", "UntilBelow",
                                              "WeightAveraging"]
    for name in kreg.callbacks.__all__:
        assert issubclass(getattr(kreg.callbacks, name), keras.callbacks.Callback)
