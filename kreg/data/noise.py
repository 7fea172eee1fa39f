"""Label noise for the random-label and label-noise lessons."""

from __future__ import annotations

import numpy as np

from kreg._validation import check_float, check_int

__all__ = ["corrupt_labels"]


def corrupt_labels(y, fraction, num_classes, *, seed=0):
    """Replace a ``fraction`` of the labels by classes drawn uniformly at random.

    As in Zhang et al. (2017) "Understanding deep learning requires
    rethinking generalization" (deck 003): each selected label is replaced
    by a class drawn uniformly from all ``num_classes`` (so about
    ``fraction / num_classes`` of them keep their old value by chance).
    ``fraction=1`` gives fully random labels.

    Returns ``(y_noisy, changed)`` where ``changed`` is the boolean mask of
    the positions that were re-drawn.
    """
    fraction = check_float("fraction", fraction, low=0.0, high=1.0)
    num_classes = check_int("num_classes", num_classes, low=2)
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    n_pick = int(round(fraction * len(y)))
    picked = rng.choice(len(y), size=n_pick, replace=False)
    y_noisy = y.copy()
    y_noisy[picked] = rng.integers(0, num_classes, size=n_pick).astype(y.dtype)
    changed = np.zeros(len(y), bool)
    changed[picked] = True
    return y_noisy, changed
