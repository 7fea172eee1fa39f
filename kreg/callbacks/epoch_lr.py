"""The learning rate in force during each epoch, logged for the learning-rate lessons (deck 001, schedules)."""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["EpochLR"]


class EpochLR(keras.callbacks.Callback):
    """Log ``epoch_lr``: the optimizer's learning rate at the start of each epoch.

    Keras's ``History`` records ``learning_rate`` only when a callback puts
    it in the logs, and a value read at the *end* of an epoch is the rate of
    the next epoch once a plateau callback or a step schedule has changed it.
    This callback reads ``model.optimizer.learning_rate`` in
    ``on_epoch_begin`` (for a ``LearningRateSchedule`` that is the schedule
    evaluated at the current iteration count: the rate of the epoch's first
    step) and writes it as ``logs["epoch_lr"]`` at the epoch's end. List it
    before callbacks that change the rate in ``on_epoch_begin`` to see the
    rate before their change, after them to see it after.

    ``self.rates`` keeps one float per epoch (reset at every fit).

    Example:

    >>> cb = EpochLR()
    >>> cb.rates
    []
    """

    def __init__(self):
        super().__init__()
        self.rates = []
        self._lr = None

    def on_train_begin(self, logs=None):
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.model.optimizer.learning_rate
        self._lr = float(np.asarray(keras.ops.convert_to_numpy(lr), dtype=np.float64))

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self._lr)
        if logs is not None:
            logs["epoch_lr"] = self._lr
