"""Early stopping that keeps and restores the best weights (deck 001, "Early Stopping")."""

from __future__ import annotations

import math
import os

import keras

from kreg._validation import check_bool, check_float, check_int, invalid
from kreg.callbacks._monitor import monitor_value, resolve_mode

__all__ = ["EarlyStopping"]


class EarlyStopping(keras.callbacks.Callback):
    r"""Stop training when a monitored metric stops improving; return the stored copy.

    At the end of every epoch ``e >= start_from_epoch`` the monitored value
    ``v_e`` is compared with the best so far ``v*``. In ``"min"`` mode it is an
    improvement when

    .. math::

        v_e + \delta < v^* \qquad (\text{``"max"``: } v_e - \delta > v^*),
        \qquad \delta = |\text{min\_delta}|

    (the first monitored epoch always improves). On an improvement the
    weights are stored (``model.get_weights()`` in memory, or
    ``model.save_weights(path)`` on disk) and the wait counter is reset to 0
    (with a ``baseline``, only when ``v_e`` also improves on the baseline).
    Otherwise the counter grows by one, and training stops when it reaches
    ``patience``. The decisions are those of ``keras.callbacks.EarlyStopping``
    (Keras 3), so ``patience=0`` and ``patience=1`` both stop at the first
    epoch without improvement.

    Unlike Keras (default ``False``) ``restore_best_weights`` defaults to
    ``True``, the lectures' "use the best performing model": at the end of
    training, whether it stopped early or ran all epochs, the stored weights
    of epoch ``best_epoch`` are written back into the model.

    ``baseline``: if given, an epoch resets the wait only if it improves on
    the baseline; so training stops after ``patience`` epochs that never
    beat the baseline, even if they improve on each other (here kreg
    differs from Keras 3, which never stops on an improving epoch, so a
    run improving slowly above the baseline is never stopped there). The
    best weights are still tracked (and restored) even if they never beat
    the baseline.

    ``start_from_epoch``: epochs ``e < start_from_epoch`` are ignored
    entirely (warm-up): they can be neither best nor counted as bad.

    Logs written into ``logs`` every epoch (they land in ``History``):
    ``best_epoch`` (0-based, -1 until something was monitored), ``best_value``
    (``nan`` until then) and ``stopped_epoch`` (0-based epoch at which
    training was stopped, -1 if it was not). The same values are attributes.

    Which weights win with other averaging: Keras's optimizer EMA
    (``optimizer.use_ema=True``) writes its average into the model *before*
    the callbacks' ``on_train_end``, so EarlyStopping's restore overwrites
    it: the final model holds the weights of the best epoch as they were at
    that epoch's end (raw weights, unless an averaging callback listed
    *before* EarlyStopping had swapped averaged weights in, as
    ``kreg.callbacks.WeightAveraging(swap_on_epoch=True)`` or
    ``keras.callbacks.SwapEMAWeights(swap_on_epoch=True)`` do; then the
    monitored value and the stored weights are both the averaged ones).
    Callbacks run ``on_train_end`` in list order, so with
    ``[WeightAveraging(...), EarlyStopping()]`` EarlyStopping wins, with
    ``[EarlyStopping(), WeightAveraging(...)]`` the final average wins.

    Args:
        monitor: key of the epoch logs to monitor. Defaults to ``"val_loss"``.
        min_delta: minimum change that counts as an improvement (its absolute
            value is used, as in Keras).
        patience: epochs without improvement after which training stops.
        mode: ``"auto"``, ``"min"`` or ``"max"``; ``"auto"`` infers it from
            the metric name (``*loss``/``*error`` minimised,
            ``*acc*``/``auc``/... maximised).
        baseline: optional value the metric must beat (see above).
        start_from_epoch: number of warm-up epochs not monitored.
        restore_best_weights: restore the best epoch's weights at the end.
        path: optional file ending in ``.weights.h5``; the best weights are
            kept there (``model.save_weights``) instead of in memory.
        verbose: 0 or 1.

    Example:

    >>> cb = EarlyStopping(patience=3)
    >>> # model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[cb])
    >>> # cb.best_epoch, cb.best_value, cb.stopped_epoch

    Reference:
        Prechelt, "Early Stopping - But When?", 1998. Deck 001, "Early
        Stopping" ("save the model if performance is better than before ...
        use the best performing model").
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        mode="auto",
        baseline=None,
        start_from_epoch=0,
        restore_best_weights=True,
        path=None,
        verbose=0,
    ):
        super().__init__()
        self._mode = resolve_mode("EarlyStopping", monitor, mode)
        check_float("min_delta", min_delta)
        check_int("patience", patience, low=0)
        check_float("baseline", baseline, allow_none=True)
        check_int("start_from_epoch", start_from_epoch, low=0)
        check_bool("restore_best_weights", restore_best_weights)
        if path is not None and (not isinstance(path, (str, os.PathLike)) or not str(path).endswith(".weights.h5")):
            raise invalid("path", path, "None or a file path ending in '.weights.h5'")
        check_int("verbose", verbose, low=0)
        self.monitor = monitor
        self.min_delta = min_delta
        self.patience = patience
        self.mode = mode
        self.baseline = baseline
        self.start_from_epoch = start_from_epoch
        self.restore_best_weights = restore_best_weights
        self.path = None if path is None else os.fspath(path)
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.wait = 0
        self.best_value = None
        self.best_epoch = -1
        self.stopped_epoch = -1
        self.best_weights = None
        self._has_snapshot = False

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        delta = abs(float(self.min_delta))
        if self._mode == "min":
            return value + delta < reference
        return value - delta > reference

    def _snapshot(self):
        if not self.restore_best_weights:
            return
        if self.path is not None:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            self.model.save_weights(self.path, overwrite=True)
        else:
            self.best_weights = self.model.get_weights()
        self._has_snapshot = True

    def _write_logs(self, logs):
        if logs is None:
            return
        logs["best_epoch"] = self.best_epoch
        logs["best_value"] = math.nan if self.best_value is None else self.best_value
        logs["stopped_epoch"] = self.stopped_epoch

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            self._write_logs(logs)
            return
        current = monitor_value("EarlyStopping", self.monitor, logs)
        if current is None:
            self._write_logs(logs)
            return
        self.wait += 1
        improved = self._is_improvement(current, self.best_value)
        if improved:
            self.best_value = current
            self.best_epoch = epoch
            self._snapshot()
            if self.baseline is None or self._is_improvement(current, float(self.baseline)):
                self.wait = 0
        # Keras 3 returns after any improvement, so a run that keeps improving
        # without ever beating `baseline` never stops there; kreg counts such
        # epochs as documented ("stop if no improvement over the baseline").
        if self.wait > 0 and self.wait >= self.patience and epoch > 0 and (
            not improved or self.baseline is not None
        ):
            self.stopped_epoch = epoch
            self.model.stop_training = True
        self._write_logs(logs)

    def on_train_end(self, logs=None):
        if self.stopped_epoch >= 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self._has_snapshot:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            if self.path is not None:
                self.model.load_weights(self.path)
            else:
                self.model.set_weights(self.best_weights)
