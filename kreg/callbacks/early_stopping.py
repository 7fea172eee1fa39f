"""Early stopping that keeps and restores the best weights (deck 001, "Early Stopping")."""

from __future__ import annotations

import math
import os

import keras

from kreg._validation import check_bool, check_float, check_int, invalid
from kreg.callbacks._monitor import AutoModeMixin, check_monitor, keras_improves, monitor_value, print_msg

__all__ = ["EarlyStopping"]


class EarlyStopping(AutoModeMixin, keras.callbacks.Callback):
    r"""Stop training when a monitored metric stops improving; return the stored copy.

    For Keras's arguments the decisions are exactly those of
    ``keras.callbacks.EarlyStopping`` (Keras 3): the same epoch stops and
    the same epoch's weights are restored. At the end of every epoch
    ``e >= start_from_epoch`` the monitored value ``v_e`` is compared with
    the best so far ``v*``. In ``"min"`` mode it is an improvement when

    .. math::

        v_e + \delta < v^* \qquad (\text{``"max"``: } v_e - \delta > v^*),
        \qquad \delta = |\text{min\_delta}|

    (compared in float32, as Keras does; the first monitored epoch always
    improves). Every monitored epoch first adds one to a wait counter. On an
    improvement the weights are stored (``model.get_weights()`` in memory,
    or ``model.save_weights(path)`` on disk) and, if there is no
    ``baseline`` or ``v_e`` also improves on it, the counter is reset to 0;
    an improving epoch never stops training. On an epoch without
    improvement training stops when the counter has reached ``patience``
    (and ``e > 0``), so ``patience=0`` and ``patience=1`` both stop at the
    first epoch without improvement.

    ``baseline``: a run whose values improve on each other but never on the
    baseline keeps counting; it stops at the first epoch that does not
    improve once ``patience`` epochs have been counted (Keras's meaning). The
    best weights are tracked and restored even if they never beat it.

    ``start_from_epoch``: epochs ``e < start_from_epoch`` are ignored
    entirely (warm-up): they can be neither best nor counted.

    ``mode="auto"``: the direction Keras gives the compiled metric of that
    name (``val_accuracy`` up, ``val_mse`` down, ``loss`` down); where Keras
    cannot decide, a key ending in ``loss`` is minimized (a multi-output
    model's ``val_decoder_loss``) and any other key raises Keras's
    ``ValueError``, in ``on_train_begin`` (after the first train step on
    TensorFlow's first ``fit``, where the metrics are built then).

    Departures from Keras, by design:

    - ``restore_best_weights`` defaults to ``True`` (Keras: ``False``), the
      lectures' "use the best performing model": at the end of training,
      whether it stopped early or ran all epochs, the stored weights of
      epoch ``best_epoch`` are written back into the model;
    - a NaN value is never an improvement, so a first NaN cannot become a
      best value that nothing beats (Keras keeps it, and then stops after
      ``patience`` epochs and restores the NaN epoch's weights); NaN epochs
      count as epochs without improvement;
    - the best weights can be kept on disk (``path``);
    - ``best_epoch`` is -1 and ``stopped_epoch`` is -1 (Keras: 0) until set.

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
        patience: epochs without improvement after which training stops
            (Keras's meaning).
        verbose: 0 or 1.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (``"auto"``: see above).
        baseline: optional value the metric must beat to reset the wait.
        restore_best_weights: restore the best epoch's weights at the end
            (default ``True``, unlike Keras).
        start_from_epoch: number of warm-up epochs not monitored.
        path: optional file ending in ``.weights.h5``; the best weights are
            kept there (``model.save_weights``) instead of in memory.

    Example:

    >>> cb = EarlyStopping(patience=3)
    >>> # model.fit(x, y, validation_split=0.2, epochs=100, callbacks=[cb])
    >>> # cb.best_epoch, cb.best_value, cb.stopped_epoch

    Reference:
        Prechelt, "Early Stopping - But When?", 1998. Deck 001, "Early
        Stopping" ("save the model if performance is better than before ...
        use the best performing model").
    """

    _callback_name = "EarlyStopping"

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=True,
        start_from_epoch=0,
        path=None,
    ):
        super().__init__()
        self._fixed_mode = check_monitor(monitor, mode)
        check_float("min_delta", min_delta)
        check_int("patience", patience, low=0)
        check_int("verbose", verbose, low=0)
        check_float("baseline", baseline, allow_none=True)
        check_bool("restore_best_weights", restore_best_weights)
        check_int("start_from_epoch", start_from_epoch, low=0)
        if path is not None and (not isinstance(path, (str, os.PathLike)) or not str(path).endswith(".weights.h5")):
            raise invalid("path", path, "None or a file path ending in '.weights.h5'")
        self.monitor = monitor
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.path = None if path is None else os.fspath(path)
        self._mode = self._fixed_mode
        self._reset()

    def _reset(self):
        self.wait = 0
        self.best_value = None
        self.best_epoch = -1
        self.stopped_epoch = -1
        self.best_weights = None
        self._has_snapshot = False

    @property
    def best(self):
        """Keras's name for ``best_value`` (``None`` until something was monitored)."""
        return self.best_value

    @best.setter
    def best(self, value):
        self.best_value = value

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
        self._begin_monitoring()

    def on_epoch_end(self, epoch, logs=None):
        mode = self._direction()
        current = monitor_value("EarlyStopping", self.monitor, logs)
        if current is None or epoch < self.start_from_epoch:
            self._write_logs(logs)
            return
        # Keras 3's decisions, step by step (keras.callbacks.EarlyStopping).
        self.wait += 1
        if keras_improves(mode, current, self.best_value, self.min_delta):
            self.best_value = current
            self.best_epoch = epoch
            self._snapshot()
            if self.baseline is None or keras_improves(mode, current, float(self.baseline), self.min_delta):
                self.wait = 0
        elif self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
        self._write_logs(logs)

    def on_train_end(self, logs=None):
        self._drop_step_hook()
        if self.stopped_epoch >= 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self._has_snapshot:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            if self.path is not None:
                self.model.load_weights(self.path)
            else:
                self.model.set_weights(self.best_weights)
