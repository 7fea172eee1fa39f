"""Training-set accuracy in inference mode after every epoch (Zhang et al. 2017, deck 003: fitting random labels)."""

from __future__ import annotations

import keras
import numpy as np

from kreg._predict import predict_arrays
from kreg._validation import check_bool, check_float, check_int, invalid

__all__ = ["FitTracker"]


class FitTracker(keras.callbacks.Callback):
    r"""Measure how well the net fits a fixed labelled set after each epoch; optionally stop once it fits.

    Keras's ``accuracy`` log is the running mean over the epoch's steps, at
    changing weights and in training mode (dropout on, batch statistics).
    "The network fits its training set" (deck 003, Zhang et al. 2017:
    "deep nets easily fit random labels") is a statement about the trained
    net, so this callback evaluates, at the end of every epoch, in inference
    mode,

    .. math:: \text{fit\_accuracy} = \frac1n \sum_{i=1}^n
              \mathbb 1[\arg\max_k f_k(x_i) = y_i]

    on the ``(x, y)`` it was given (usually the training set, with the labels
    the net is trained on). It writes ``logs["fit_accuracy"]``, keeps
    ``self.accuracy`` (one value per epoch) and ``self.fitted_at``, the first
    1-based epoch with ``fit_accuracy >= threshold`` (``None`` if none), and
    with ``stop=True`` stops training at that epoch.

    Args:
        x: inputs, an array the model accepts.
        y: integer class labels of shape ``(n,)``, or one-hot ``(n, k)``.
            A model with a single output unit is read as binary
            (``f(x) > 0.5``; a logit output is read the same way only if it
            was squashed, so give it a sigmoid).
        threshold: accuracy in [0, 1] that counts as fitted (default 1.0).
        batch_size: batch of the inference passes.
        stop: stop training at the first fitted epoch.

    Example:

    >>> import numpy as np
    >>> cb = FitTracker(np.zeros((4, 3)), np.array([0, 1, 0, 1]), threshold=0.99)
    >>> cb.threshold
    0.99
    """

    def __init__(self, x, y, threshold=1.0, batch_size=1024, stop=True):
        super().__init__()
        y = np.asarray(y)
        n = len(x) if hasattr(x, "__len__") else None
        if y.ndim not in (1, 2) or n is None or len(y) != n or n == 0:
            raise invalid("y", f"array of shape {y.shape}",
                          f"labels of shape (n,) or one-hot (n, k) with n = len(x) > 0 (len(x) = {n})")
        self.x = x
        self.y = y.argmax(-1) if y.ndim == 2 else y.astype("int64")
        self.threshold = check_float("threshold", threshold, low=0.0, high=1.0)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.stop = check_bool("stop", stop)
        self.accuracy = []
        self.fitted_at = None

    def on_train_begin(self, logs=None):
        self.accuracy = []
        self.fitted_at = None

    def evaluate(self):
        """Accuracy of the model on ``(x, y)`` now, in inference mode."""
        p = np.asarray(predict_arrays(self.model, self.x, self.batch_size))
        guess = (p.reshape(-1) > 0.5).astype("int64") if p.shape[-1] == 1 else p.argmax(-1)
        return float(np.mean(guess == self.y))

    def on_epoch_end(self, epoch, logs=None):
        acc = self.evaluate()
        self.accuracy.append(acc)
        if logs is not None:
            logs["fit_accuracy"] = acc
        if acc >= self.threshold and self.fitted_at is None:
            self.fitted_at = epoch + 1
            if self.stop:
                self.model.stop_training = True
