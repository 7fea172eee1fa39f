"""Label noise for the random-label and label-noise lessons."""

from __future__ import annotations

import numpy as np

from kreg._validation import check_float, check_int, invalid

__all__ = ["corrupt_labels"]


def corrupt_labels(y, fraction, num_classes, *, seed=0):
    """Replace a ``fraction`` of the labels by classes drawn uniformly at random.

    As in Zhang et al. (2017) "Understanding deep learning requires
    rethinking generalization" (deck 003): each selected label is replaced
    by a class drawn uniformly from all ``num_classes`` (so about
    ``fraction / num_classes`` of them keep their old value by chance).
    ``fraction=1`` gives fully random labels.

    Args:
        y: 1-D integer class labels in ``[0, num_classes)``.
        fraction: share of the labels to re-draw, in [0, 1].
        num_classes: number of classes (at least 2).
        seed: seed of the draw (an integer >= 0).

    Returns ``(y_noisy, changed)`` where ``changed`` is the boolean mask of
    the positions that were re-drawn.

    Raises:
        ValueError: a label outside ``[0, num_classes)``, ``y`` not 1-D, or
            an argument out of range; the message names the argument and
            the value received.
    """
    fraction = check_float("fraction", fraction, low=0.0, high=1.0)
    num_classes = check_int("num_classes", num_classes, low=2)
    seed = check_int("seed", seed, low=0)
    y = np.asarray(y)
    if y.ndim != 1:
        raise invalid("y", _short(y), "a 1-D array of integer class labels")
    if len(y) and not np.issubdtype(y.dtype, np.integer):
        if not (np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
            raise invalid("y", _short(y), "integer class labels", exc=TypeError)
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0]
        raise invalid("y", _short(y), f"labels in [0, {num_classes}) for num_classes={num_classes} "
                      f"(found the label {bad.item()!r})")
    rng = np.random.default_rng(seed)
    n_pick = int(round(fraction * len(y)))
    picked = rng.choice(len(y), size=n_pick, replace=False)
    y_noisy = y.copy()
    y_noisy[picked] = rng.integers(0, num_classes, size=n_pick).astype(y.dtype)
    changed = np.zeros(len(y), bool)
    changed[picked] = True
    return y_noisy, changed


def _short(value):
    """A short stand-in for a big array in an error message."""
    if isinstance(value, np.ndarray) and value.size > 8:
        return f"<array of shape {value.shape}, dtype {value.dtype}>"
    return value.tolist() if isinstance(value, np.ndarray) else value
