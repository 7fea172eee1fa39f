"""Private helpers shared by kreg's monitoring callbacks (no public names)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from kreg._validation import check_choice, invalid

_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "iou", "r2", "top_k")
_MIN_WORDS = ("loss", "error", "mse", "mae", "crossentropy", "hinge", "divergence")


def resolve_mode(callback_name, monitor, mode):
    """Return ``"min"`` or ``"max"``; ``"auto"`` is decided from the metric name.

    Raises the Keras-style ``ValueError`` when the direction of an unknown
    metric cannot be inferred (as Keras's ``MonitorCallback`` does).
    """
    check_choice("mode", mode, ("auto", "min", "max"))
    if not isinstance(monitor, str) or not monitor:
        raise invalid("monitor", monitor, "a non-empty string (a key of the fit logs)", exc=TypeError)
    if mode != "auto":
        return mode
    name = monitor.lower().removeprefix("val_")
    if any(word in name for word in _MAX_WORDS):
        return "max"
    if any(word in name for word in _MIN_WORDS):
        return "min"
    raise ValueError(
        f"{callback_name} received monitor={monitor!r}, but cannot determine "
        "whether that metric should be maximized or minimized. Pass "
        "`mode='max'` or `mode='min'`."
    )


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
    value = float(np.asarray(value))
    return value


def is_nan(x):
    return x is None or (isinstance(x, float) and math.isnan(x))
