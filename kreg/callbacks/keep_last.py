"""Keep the weights of the last epoch (deck 002, early stopping: compare the restored and the last weights)."""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["KeepLast"]


class KeepLast(keras.callbacks.Callback):
    """Copy the model's weights when training ends, before another callback restores older ones.

    ``keras.callbacks.EarlyStopping(restore_best_weights=True)`` (and
    ``kreg.callbacks.EarlyStopping``) overwrite the last epoch's weights with
    the best epoch's in ``on_train_end``. Keras calls callbacks in the order
    they are listed, so ``callbacks=[KeepLast(), EarlyStopping(...)]`` keeps
    a copy of the weights as they were after the last epoch, for comparing
    "stop at the best epoch" with "train to the end" on the same run.

    After ``fit``, ``self.weights`` holds ``model.get_weights()`` (numpy
    arrays, non-trainable variables such as batch-norm statistics included)
    and ``self.epochs`` the number of epochs that ran; both are ``None``
    before the first ``fit`` and are reset at every ``on_train_begin``, so one
    instance can serve several fits.

    Example:

    >>> keep = KeepLast()
    >>> # model.fit(x, y, epochs=20, callbacks=[keep, EarlyStopping(restore_best_weights=True)])
    >>> # model.set_weights(keep.weights)  # the last epoch's net
    """

    def __init__(self):
        super().__init__()
        self.weights = None
        self.epochs = None

    def on_train_begin(self, logs=None):
        self.weights = None
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1

    def on_train_end(self, logs=None):
        self.weights = [np.array(w, copy=True) for w in self.model.get_weights()]
