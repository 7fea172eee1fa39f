"""Performance scheduling: lower the learning rate on a plateau, also on a schedule (deck 001)."""

from __future__ import annotations

import math

import keras
import numpy as np

from kreg._validation import check_choice, check_float, check_int, invalid
from kreg.callbacks._monitor import monitor_value, resolve_mode

__all__ = ["ReduceLROnPlateau"]

_EPS = 1e-8  # as torch: a reduction smaller than this is not applied


def _lr_object(optimizer):
    # Keras has no public getter for the schedule itself (the public
    # `optimizer.learning_rate` evaluates it), hence the attribute.
    return getattr(optimizer, "_learning_rate", None)


class ReduceLROnPlateau(keras.callbacks.Callback):
    r"""Reduce the learning rate when a metric has stopped improving.

    Deck 001's "performance scheduling", with the decisions of
    ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (the slide's reference).
    After every epoch, with ``v`` the monitored value and ``v*`` the best so far:

    - improvement (``"min"`` mode; ``"max"`` mirrors it):
      ``threshold_mode="abs"`` (default, Keras): ``v < v* - min_delta``;
      ``threshold_mode="rel"`` (torch's default): ``v < v* (1 - min_delta)``.
      So ``min_delta`` is torch's ``threshold``.
    - an improvement sets ``v* = v`` and the bad-epoch count to 0, otherwise
      the count grows by 1; during the ``cooldown`` epochs after a reduction
      the count is held at 0;
    - when the count exceeds ``patience`` (``count > patience``, i.e. at the
      ``patience + 1``-th bad epoch in a row), the rate is multiplied by
      ``factor`` (not below ``min_lr``), the cooldown starts and the count
      is reset.

    Mapping to Keras 3's ``keras.callbacks.ReduceLROnPlateau``: Keras reduces
    when the count *reaches* ``patience``, so kreg's ``patience=p`` equals
    Keras's ``patience=p+1`` (and torch's ``patience=p``); Keras's cooldown of
    ``c`` epochs holds the count for only ``c - 1`` epochs (``cooldown=1`` has
    no effect there), kreg's and torch's for ``c``.

    On a float learning rate the optimizer's rate variable is assigned
    ``max(lr * factor, min_lr)``, as Keras does. On a
    ``LearningRateSchedule`` (where Keras raises ``TypeError``) the schedule
    is wrapped once, at ``on_train_begin``, in
    :class:`kreg.schedules.Scaled` ``eta(t) = s * schedule(t)``, and a
    reduction assigns the scale variable ``s <- s * factor``: the schedule
    keeps its shape (a step decay still steps) and is scaled down. ``min_lr``
    on a schedule: a reduction never takes the effective rate *at the current
    step* below ``min_lr`` (``s`` is raised to ``min_lr / schedule(t)`` if
    needed, and nothing happens when the rate is already at ``min_lr``); the
    schedule's own later decay is not clamped. Under JAX the compiled train
    step reads the scale as a constant, so after a reduction the train
    function is rebuilt (one re-trace per reduction).

    The learning rate at the end of the epoch (before any reduction; for a
    schedule, its value at the current optimizer step) is logged every epoch
    as ``learning_rate``, and ``lr_reduced`` (1.0 or 0.0) says whether it was
    reduced after this epoch; both land in ``History``.

    Args:
        monitor: key of the epoch logs to monitor. Defaults to ``"val_loss"``.
        factor: multiplier in (0, 1); ``factor >= 1`` raises.
        patience: bad epochs tolerated before reducing (torch's meaning).
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: improvement threshold (torch's ``threshold``), >= 0.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound on the learning rate.
        threshold_mode: ``"abs"`` (Keras) or ``"rel"`` (torch's default).
        verbose: 0 or 1.

    Example:

    >>> cb = ReduceLROnPlateau(factor=0.5, patience=2)
    >>> # works with SGD(0.1) and with SGD(kreg.schedules.StepDecay(...))

    Reference:
        Deck 001, "Learning Rate Scheduling: Performance Scheduling"
        (``torch.optim.lr_scheduler.ReduceLROnPlateau``).
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        threshold_mode="abs",
        verbose=0,
    ):
        super().__init__()
        self._mode = resolve_mode("ReduceLROnPlateau", monitor, mode)
        check_float("factor", factor, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        check_int("patience", patience, low=0)
        check_float("min_delta", min_delta, low=0.0)
        check_int("cooldown", cooldown, low=0)
        check_float("min_lr", min_lr, low=0.0)
        check_choice("threshold_mode", threshold_mode, ("abs", "rel"))
        check_int("verbose", verbose, low=0)
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.threshold_mode = threshold_mode
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.best = None
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if best is None:
            return not math.isnan(a)
        th = float(self.min_delta)
        if self._mode == "min":
            return a < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (1.0 + th) if self.threshold_mode == "rel" else best + th)

    def on_train_begin(self, logs=None):
        from kreg.schedules import Scaled

        self._reset()
        optimizer = self.model.optimizer
        if hasattr(optimizer, "optimizers"):
            raise invalid("optimizer", optimizer, "a single optimizer (multi-optimizers are not supported)", exc=TypeError)
        lr = _lr_object(optimizer)
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule) and not isinstance(lr, Scaled):
            optimizer.learning_rate = Scaled(lr, 1.0)
            # The train function may already be traced with the old schedule
            # (a previous fit): rebuild it so the wrapper is used.
            self.model.make_train_function(force=True)
        elif lr is not None and not isinstance(lr, (keras.Variable, Scaled)) and callable(lr):
            raise invalid(
                "optimizer.learning_rate", lr,
                "a float or a LearningRateSchedule (a plain callable cannot be scaled)", exc=TypeError,
            )

    def _current_lr(self):
        return float(np.asarray(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def _reduce(self, epoch):
        from kreg.schedules import Scaled

        optimizer = self.model.optimizer
        lr = _lr_object(optimizer)
        old_lr = self._current_lr()
        if isinstance(lr, Scaled):
            inner = float(keras.ops.convert_to_numpy(lr.schedule(optimizer.iterations)))
            scale = float(keras.ops.convert_to_numpy(lr.scale))
            new_scale = scale * self.factor
            if inner > 0 and new_scale * inner < self.min_lr:
                new_scale = self.min_lr / inner
            new_lr = new_scale * inner
            if old_lr - new_lr > _EPS:
                lr.scale.assign(new_scale)
                if keras.backend.backend() == "jax":
                    # jit reads the (untracked) scale variable as a constant.
                    self.model.make_train_function(force=True)
                self._announce(epoch, new_lr)
                return True
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        if old_lr - new_lr > _EPS:
            optimizer.learning_rate = new_lr
            self._announce(epoch, new_lr)
            return True
        return False

    def _announce(self, epoch, new_lr):
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr:.6g}.")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self._current_lr()
        reduced = False
        current = monitor_value("ReduceLROnPlateau", self.monitor, logs)
        if current is not None:
            if self._is_better(current, self.best):
                self.best = current
                self.num_bad_epochs = 0
            else:
                self.num_bad_epochs += 1
            if self.in_cooldown():
                self.cooldown_counter -= 1
                self.num_bad_epochs = 0
            if self.num_bad_epochs > self.patience:
                reduced = self._reduce(epoch)
                self.cooldown_counter = self.cooldown
                self.num_bad_epochs = 0
        logs["lr_reduced"] = 1.0 if reduced else 0.0
