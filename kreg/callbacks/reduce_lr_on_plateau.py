"""Performance scheduling: lower the learning rate on a plateau, also on a schedule (deck 001)."""

from __future__ import annotations

import math

import keras
import numpy as np

from kreg._validation import check_choice, check_float, check_int, invalid
from kreg.callbacks._monitor import AutoModeMixin, check_monitor, keras_improves, monitor_value, print_msg

__all__ = ["ReduceLROnPlateau"]

_TORCH_EPS = 1e-8  # torch's default `eps`: a smaller reduction is not applied


def _unwrap(optimizer):
    """The optimizer that owns the learning rate.

    Under a mixed-precision policy ``compile`` wraps the optimizer in a
    ``keras.optimizers.LossScaleOptimizer``; its own learning-rate slot is
    not the one the inner optimizer uses (and setting a float there raises
    on a schedule), so the rate is read and changed on ``inner_optimizer``.
    """
    while getattr(optimizer, "inner_optimizer", None) is not None:
        optimizer = optimizer.inner_optimizer
    return optimizer


def _lr_object(optimizer):
    # Keras has no public getter for the schedule itself (the public
    # `optimizer.learning_rate` evaluates it), hence the attribute.
    return getattr(optimizer, "_learning_rate", None)


class ReduceLROnPlateau(AutoModeMixin, keras.callbacks.Callback):
    r"""Reduce the learning rate when a metric has stopped improving.

    Deck 001's "performance scheduling". Two sets of decisions:

    ``semantics="keras"`` (default): for Keras's arguments, exactly the
    decisions of ``keras.callbacks.ReduceLROnPlateau`` (Keras 3). After every
    epoch, with ``v`` the monitored value and ``v*`` the best so far:

    - during a cooldown the counter of bad epochs is held at 0 and the
      cooldown counter decreases by one;
    - an improvement (``"min"``: ``v + min_delta < v*``, in float32 as
      Keras; ``"max"`` mirrors it) sets ``v* = v`` and the counter to 0;
    - otherwise, unless still in cooldown, the counter grows by one, and when
      it *reaches* ``patience`` the rate becomes ``max(lr * factor,
      min_lr)`` if ``lr > min_lr``; after a reduction the counter is reset
      and ``cooldown`` starts. ``patience=p`` reduces at the ``p``-th bad
      epoch in a row (``patience=0`` behaves as 1), and ``cooldown=c``
      leaves ``c - 1`` epochs uncounted after a reduction.

    ``semantics="torch"``: the decisions of
    ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (the STAT 453 notebooks'
    scheduler, and kreg 0.1.0's meaning): the counter grows on every bad
    epoch, is held at 0 for ``cooldown`` epochs after a reduction, and the
    rate is reduced when the counter *exceeds* ``patience`` (at the
    ``patience + 1``-th bad epoch), only if the change is larger than
    ``eps`` (1e-8); ``min_delta`` is torch's ``threshold``. So kreg's torch
    ``patience=p`` is Keras's ``patience=p+1``. :meth:`from_torch` builds
    this callback from torch's own argument names and defaults.

    ``threshold_mode``: ``"abs"`` (default; Keras's only rule)
    ``v < v* - min_delta``, or ``"rel"`` (torch's default)
    ``v < v* (1 - min_delta)``, in either semantics.

    Departures from Keras, by design:

    - on a ``LearningRateSchedule`` (where Keras raises ``TypeError``) the
      schedule is wrapped once, at ``on_train_begin``, in
      :class:`kreg.schedules.Scaled` ``eta(t) = s * schedule(t)``, and a
      reduction assigns the scale ``s <- s * factor``: the schedule keeps its
      shape (a step decay still steps) and is scaled down. ``min_lr`` on a
      schedule: a reduction never takes the effective rate *at the current
      step* below ``min_lr`` (``s`` is raised to ``min_lr / schedule(t)`` if
      needed, and nothing happens when the rate is already at ``min_lr``);
      the schedule's own later decay is not clamped. Under JAX the compiled
      train step reads the scale as a constant, so after a reduction the
      train function is rebuilt (one re-trace per reduction);
    - a NaN value never becomes the best value (Keras keeps a first NaN and
      then reduces every ``patience`` epochs); NaN epochs count as bad;
    - a ``LossScaleOptimizer`` (mixed precision) is unwrapped: the inner
      optimizer's rate is read and reduced;
    - ``mode="auto"`` is decided as Keras decides (the compiled metric's
      direction, ``loss`` minimized), but where Keras cannot decide a key
      ending in ``loss`` is minimized, and any other key raises Keras's
      ``ValueError`` in ``on_train_begin`` instead of after the first epoch;
    - several optimizers (``optimizer.optimizers``) are not supported.

    The learning rate at the end of the epoch (before any reduction; for a
    schedule, its value at the current optimizer step) is logged every epoch
    as ``learning_rate``, and ``lr_reduced`` (1.0 or 0.0) says whether it was
    reduced after this epoch; both land in ``History``.

    Args:
        monitor: key of the epoch logs to monitor. Defaults to ``"val_loss"``.
        factor: multiplier in (0, 1); ``factor >= 1`` raises.
        patience: bad epochs before reducing (see ``semantics``).
        verbose: 0 or 1.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: improvement threshold (torch's ``threshold``), >= 0.
        cooldown: epochs after a reduction before counting again.
        min_lr: lower bound on the learning rate.
        threshold_mode: ``"abs"`` (Keras) or ``"rel"`` (torch's default).
        semantics: ``"keras"`` (default) or ``"torch"``; see above.

    Example:

    >>> cb = ReduceLROnPlateau(factor=0.5, patience=2)  # as keras.callbacks.ReduceLROnPlateau
    >>> cb = ReduceLROnPlateau.from_torch(factor=0.5, patience=2)  # as torch's scheduler
    >>> # both work with SGD(0.1) and with SGD(kreg.schedules.StepDecay(...))

    Reference:
        Deck 001, "Learning Rate Scheduling: Performance Scheduling"
        (``torch.optim.lr_scheduler.ReduceLROnPlateau``).
    """

    _callback_name = "ReduceLROnPlateau"

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        threshold_mode="abs",
        semantics="keras",
    ):
        super().__init__()
        self._fixed_mode = check_monitor(monitor, mode)
        check_float("factor", factor, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        check_int("patience", patience, low=0)
        check_int("verbose", verbose, low=0)
        check_float("min_delta", min_delta, low=0.0)
        check_int("cooldown", cooldown, low=0)
        check_float("min_lr", min_lr, low=0.0)
        check_choice("threshold_mode", threshold_mode, ("abs", "rel"))
        check_choice("semantics", semantics, ("keras", "torch"))
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.threshold_mode = threshold_mode
        self.semantics = semantics
        self.eps = _TORCH_EPS
        self._mode = self._fixed_mode
        self._reset()

    @classmethod
    def from_torch(
        cls,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
        eps=1e-8,
        *,
        monitor="val_loss",
        verbose=0,
    ):
        """The callback that makes torch's ``ReduceLROnPlateau(optimizer, ...)`` decisions.

        Takes torch's argument names, order and defaults (``mode="min"``,
        ``threshold=1e-4`` relative, ``eps=1e-8``), plus the logs key to
        monitor. ``scheduler.step(v)`` is called with the monitored value
        after every epoch. Equivalent to ``ReduceLROnPlateau(monitor, factor,
        patience, verbose, mode, min_delta=threshold, cooldown, min_lr,
        threshold_mode, semantics="torch")`` with ``eps`` set.
        """
        check_float("threshold", threshold, low=0.0)  # under torch's name, before it becomes min_delta
        cb = cls(
            monitor=monitor, factor=factor, patience=patience, verbose=verbose, mode=mode,
            min_delta=threshold, cooldown=cooldown, min_lr=min_lr, threshold_mode=threshold_mode,
            semantics="torch",
        )
        cb.eps = check_float("eps", eps, low=0.0)
        return cb

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    @property
    def num_bad_epochs(self):
        """Torch's name for the counter of bad epochs (``wait``)."""
        return self.wait

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def _is_better(self, a, best):
        if math.isnan(a):
            return False
        if self.threshold_mode == "abs" and self.semantics == "keras":
            return keras_improves(self._direction(), a, best, self.min_delta)
        if best is None:
            return True
        th = float(self.min_delta)
        if self._direction() == "min":
            return a < (best * (1.0 - th) if self.threshold_mode == "rel" else best - th)
        return a > (best * (1.0 + th) if self.threshold_mode == "rel" else best + th)

    def _optimizer(self):
        return _unwrap(self.model.optimizer)

    def on_train_begin(self, logs=None):
        from kreg.schedules import Scaled

        self._reset()
        self._begin_monitoring()
        optimizer = self._optimizer()
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
        return float(np.asarray(keras.ops.convert_to_numpy(self._optimizer().learning_rate)))

    def _applies(self, old_lr, new_lr):
        if self.semantics == "torch":
            return old_lr - new_lr > self.eps
        # Keras reduces whenever the rate is above min_lr (compared in float32).
        return old_lr > np.float32(self.min_lr)

    def _reduce(self, epoch):
        from kreg.schedules import Scaled

        optimizer = self._optimizer()
        lr = _lr_object(optimizer)
        old_lr = self._current_lr()
        if isinstance(lr, Scaled):
            inner = float(keras.ops.convert_to_numpy(lr.schedule(optimizer.iterations)))
            scale = float(keras.ops.convert_to_numpy(lr.scale))
            new_scale = scale * self.factor
            if inner > 0 and new_scale * inner < self.min_lr:
                new_scale = self.min_lr / inner
            new_lr = new_scale * inner
            if not self._applies(old_lr, new_lr) or new_lr >= old_lr:
                return False
            lr.scale.assign(new_scale)
            if keras.backend.backend() == "jax":
                # jit reads the (untracked) scale variable as a constant.
                self.model.make_train_function(force=True)
        else:
            new_lr = max(old_lr * self.factor, self.min_lr)
            if not self._applies(old_lr, new_lr):
                return False
            optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        self._direction()
        logs["learning_rate"] = self._current_lr()
        reduced = False
        current = monitor_value("ReduceLROnPlateau", self.monitor, logs)
        if current is not None:
            if self.semantics == "torch":
                reduced = self._torch_step(epoch, current)
            else:
                reduced = self._keras_step(epoch, current)
        logs["lr_reduced"] = 1.0 if reduced else 0.0

    def _keras_step(self, epoch, current):
        # keras.callbacks.ReduceLROnPlateau.on_epoch_end, step by step.
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_better(current, self.best):
            self.best = current
            self.wait = 0
            return False
        if self.in_cooldown():
            return False
        self.wait += 1
        if self.wait < self.patience:
            return False
        reduced = self._reduce(epoch)
        if reduced:
            self.cooldown_counter = self.cooldown
            self.wait = 0
        return reduced

    def _torch_step(self, epoch, current):
        # torch.optim.lr_scheduler.ReduceLROnPlateau.step, step by step.
        if self._is_better(current, self.best):
            self.best = current
            self.wait = 0
        else:
            self.wait += 1
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.wait > self.patience:
            reduced = self._reduce(epoch)
            self.cooldown_counter = self.cooldown
            self.wait = 0
            return reduced
        return False

    def on_train_end(self, logs=None):
        self._drop_step_hook()
