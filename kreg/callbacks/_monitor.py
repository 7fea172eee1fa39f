"""Private helpers shared by kreg's monitoring callbacks (no public names)."""

from __future__ import annotations

import math
import sys
import warnings

import keras
import numpy as np

from kreg._validation import check_choice, invalid


def print_msg(message):
    """Print as Keras's callbacks do: to stdout, or to the log when interactive logging is off."""
    if keras.config.is_interactive_logging_enabled():
        sys.stdout.write(message + "\n")
        sys.stdout.flush()
    else:
        from absl import logging  # a dependency of Keras; Keras's callbacks log there

        logging.info(message)


def check_monitor(monitor, mode):
    """Validate ``monitor`` and ``mode`` at construction; return ``mode`` or ``None``.

    ``"min"``/``"max"`` are returned as they are. ``"auto"`` returns ``None``:
    the direction is only known once the model's metrics are compiled and
    built (:func:`resolve_mode`).
    """
    check_choice("mode", mode, ("auto", "min", "max"))
    if not isinstance(monitor, str) or not monitor:
        raise invalid("monitor", monitor, "a non-empty string (a key of the fit logs)", exc=TypeError)
    return None if mode == "auto" else mode


def _compiled_metrics(model):
    """The metrics Keras's ``MonitorCallback`` reads the direction from, or ``None``.

    Keras looks inside the containers of ``model.metrics`` (the compiled
    metrics and metric lists). They are empty until the model has built
    them, which happens before ``on_train_begin`` under JAX and PyTorch (a
    symbolic build) and in the first train step under TensorFlow; ``None``
    means "not built yet, cannot tell".
    """
    found = []
    for m in getattr(model, "metrics", None) or ():
        inner = getattr(m, "metrics", None)  # CompileMetrics, MetricsList: containers
        if isinstance(inner, (list, tuple)):
            if not getattr(m, "built", True):
                return None
            found.extend(inner)
    return found


def keras_mode_error(callback_name, monitor):
    # Keras's own message (keras.callbacks.MonitorCallback).
    return ValueError(
        f"{callback_name} callback received monitor={monitor}, but Keras isn't "
        "able to automatically determine whether that metric should be "
        "maximized or minimized. Pass `mode='max'` in order to monitor based "
        "on the highest metric value, or pass `mode='min'` in order to use the "
        "lowest value."
    )


def resolve_mode(callback_name, monitor, model, *, final=True):
    """Direction of ``monitor`` for ``mode="auto"``: ``"min"``, ``"max"`` or ``None``.

    As Keras 3 decides it: ``loss``/``val_loss`` is minimized; otherwise the
    compiled metric named ``monitor`` (without ``val_``) gives its own
    direction (``accuracy``, ``auc``, ``f1_score``, ``r2_score`` up;
    ``mse``, ``hinge``, crossentropies down). Where Keras cannot decide (a
    per-output ``decoder_loss`` of a multi-output model, a key no compiled
    metric carries), kreg minimizes a key ending in ``loss`` and otherwise
    raises Keras's ``ValueError``. The name alone never decides anything
    else (``val_r2_loss`` is a loss, not an R^2).

    ``final=False`` returns ``None`` instead of deciding when the model's
    compiled metrics are not built yet (TensorFlow, before the first step).
    """
    name = monitor.removeprefix("val_")
    direction = "min" if name == "loss" else None
    metrics = _compiled_metrics(model)
    if metrics is None:
        if not final and direction is None:
            return None
        metrics = []
    for m in metrics:
        # Keras keeps a metric's direction in the private `_direction`
        # ("up"/"down"); there is no public accessor, and this is exactly
        # what keras.callbacks.MonitorCallback reads.
        if getattr(m, "name", None) == name and hasattr(m, "_direction"):
            direction = "max" if m._direction == "up" else "min"
    if direction is None and monitor.endswith("loss"):
        direction = "min"
    if direction is None:
        raise keras_mode_error(callback_name, monitor)
    return direction


def monitor_value(callback_name, monitor, logs):
    """``float(logs[monitor])`` or ``None`` with a warning listing the keys."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(
            f"{callback_name} is conditioned on metric `{monitor}` which is not "
            f"available. Available metrics are: {', '.join(sorted(logs))}.",
            stacklevel=3,
        )
        return None
    array = np.asarray(value)
    if array.size != 1:
        raise ValueError(
            f"{callback_name} monitors `{monitor}`, which must be a single number; the logs hold "
            f"an array of shape {array.shape} (e.g. F1Score(average=None) gives one value per class: "
            "pass `average='macro'`, or monitor another key)."
        )
    return float(array.reshape(()))


def keras_improves(mode, current, reference, min_delta):
    """Keras's ``MonitorCallback._is_improvement``, NaN-safe.

    Keras compares ``current - min_delta`` with ``reference`` with
    ``keras.ops.less``/``greater``, i.e. in float32; so does this (a value
    closer to the best than float32 resolves is no improvement in Keras
    either). A NaN is never an improvement (Keras would keep a first NaN as
    the best value forever).
    """
    if math.isnan(current):
        return False
    if reference is None:
        return True
    delta = abs(float(min_delta))
    if mode == "min":
        return bool(np.float32(current + delta) < np.float32(reference))
    return bool(np.float32(current - delta) > np.float32(reference))


def is_nan(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


class AutoModeMixin:
    """``mode="auto"`` resolved as early as the model allows (for kreg's monitors).

    Subclasses set ``self._callback_name``, ``self.monitor`` and
    ``self._fixed_mode`` (``"min"``, ``"max"`` or ``None`` for auto) in
    ``__init__``, call :meth:`_begin_monitoring` in ``on_train_begin`` and
    read the direction with :meth:`_direction` in ``on_epoch_end``.

    Keras decides at the first ``on_epoch_end``, after a whole epoch. kreg
    decides in ``on_train_begin`` where the compiled metrics are already
    built (JAX, PyTorch, and TensorFlow from the second ``fit`` on), so a
    monitor whose direction cannot be known fails before any training; on
    TensorFlow's first ``fit`` they are built by the first train step, and
    the decision is taken right after it (a hook installed on this instance
    only for that step, so no per-batch hook stays in place).
    """

    def _begin_monitoring(self):
        self._drop_step_hook()
        self._mode = self._fixed_mode
        if self._mode is None:
            self._mode = resolve_mode(self._callback_name, self.monitor, self.model, final=False)
            if self._mode is None:
                self.on_train_batch_end = self._decide_after_first_step

    def _decide_after_first_step(self, batch, logs=None):
        self._drop_step_hook()
        self._direction()

    def _drop_step_hook(self):
        self.__dict__.pop("on_train_batch_end", None)

    def _direction(self):
        if self._mode is None:
            self._mode = self._fixed_mode or resolve_mode(self._callback_name, self.monitor, self.model)
        return self._mode
