"""Weights at the end of every epoch, raw and averaged (deck 004: checkpoint ensembles, running weight averages)."""

from __future__ import annotations

import keras
import numpy as np

from kreg._validation import check_int, invalid

__all__ = ["Snapshots"]


class Snapshots(keras.callbacks.Callback):
    """Keep a copy of the weights every ``every`` epochs, and optionally of a weight average.

    Deck 004 (model ensembles): "ensembles of checkpoints of a single
    model" and "a running average of the parameter vector". This callback
    stores, at the end of epochs ``every, 2·every, ...`` (and always the last
    epoch that ran),

    - ``self.weights``: ``model.get_weights()`` (numpy copies, all variables,
      batch-norm statistics included), one list per snapshot;
    - ``self.averaged`` (when ``ema`` is a :class:`kreg.callbacks.WeightAveraging`
      listed in the same ``fit``): its ``averaged_weights`` at that moment,
      which cover ``model.trainable_weights`` only (copy them into a model
      with ``zip(model.trainable_weights, averaged)``);
    - ``self.epochs``: the 1-based epoch of each snapshot.

    Every list is reset at ``on_train_begin``. Memory: one full copy of the
    weights per snapshot.

    Args:
        every: keep every ``every``-th epoch (default 1: every epoch).
        ema: optional ``WeightAveraging`` callback whose average to keep too.

    Example:

    >>> cb = Snapshots(every=2)
    >>> cb.every
    2
    """

    def __init__(self, every=1, ema=None):
        super().__init__()
        self.every = check_int("every", every, low=1)
        if ema is not None and not hasattr(ema, "averaged_weights"):
            raise invalid("ema", ema, "None or a kreg.callbacks.WeightAveraging callback", exc=TypeError)
        self.ema = ema
        self.weights, self.averaged, self.epochs = [], [], []

    def on_train_begin(self, logs=None):
        self.weights, self.averaged, self.epochs = [], [], []

    def _keep(self, epoch):
        self.weights.append([np.array(w, copy=True) for w in self.model.get_weights()])
        if self.ema is not None:
            avg = self.ema.averaged_weights
            self.averaged.append(None if avg is None else
                                 [np.array(keras.ops.convert_to_numpy(a), copy=True) for a in avg])
        self.epochs.append(epoch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._last = epoch
        if (epoch + 1) % self.every == 0:
            self._keep(epoch)

    def on_train_end(self, logs=None):
        last = getattr(self, "_last", None)
        if last is not None and (not self.epochs or self.epochs[-1] != last + 1):
            self._keep(last)
        self._last = None
