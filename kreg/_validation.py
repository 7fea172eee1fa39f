"""Argument checks shared by kreg's public classes and functions.

Every check raises ``ValueError`` (or ``TypeError`` for a wrong type) with a
Keras-style message that names the argument and the value received, e.g.::

    Invalid value received for argument `rate`. Expected a float in [0, 1).
    Received: rate=1.5

Checks run in ``__init__`` (or at the top of a function), so bad input is
rejected before any training starts.
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "invalid",
    "check_float",
    "check_int",
    "check_choice",
    "check_bool",
]


def invalid(name, value, expected, exc=ValueError):
    """Return (not raise) the standard exception for a bad argument."""
    return exc(
        f"Invalid value received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r}"
    )


def _interval(low, high, low_inclusive, high_inclusive):
    left = "[" if low_inclusive else "("
    right = "]" if high_inclusive else ")"
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    return f"{left}{lo}, {hi}{right}"


def check_float(
    name,
    value,
    *,
    low=None,
    high=None,
    low_inclusive=True,
    high_inclusive=True,
    allow_none=False,
):
    """Validate a finite real number in an interval; return it as ``float``.

    Booleans are rejected (``True`` is an ``int`` in Python, never a rate).
    """
    if value is None and allow_none:
        return None
    expected = "a finite float"
    if low is not None or high is not None:
        expected = "a float in " + _interval(low, high, low_inclusive, high_inclusive)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, value, expected)
    value = float(value)
    if not math.isfinite(value):
        raise invalid(name, value, expected)
    if low is not None and (value < low or (value == low and not low_inclusive)):
        raise invalid(name, value, expected)
    if high is not None and (value > high or (value == high and not high_inclusive)):
        raise invalid(name, value, expected)
    return value


def check_int(name, value, *, low=None, high=None, allow_none=False):
    """Validate an integer (not a bool) in the closed interval [low, high]."""
    if value is None and allow_none:
        return None
    if low is not None and high is not None:
        expected = f"an integer in [{low}, {high}]"
    elif low is not None:
        expected = f"an integer >= {low}"
    elif high is not None:
        expected = f"an integer <= {high}"
    else:
        expected = "an integer"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(name, value, expected)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name, value, expected)
    return value


def check_choice(name, value, choices):
    """Validate that ``value`` is one of ``choices`` (listed in the message)."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise invalid(name, value, f"one of {listed}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise invalid(name, value, "a bool (True or False)", exc=TypeError)
    return value
