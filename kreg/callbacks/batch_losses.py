"""Per-step training losses recovered from Keras's running epoch mean (deck 001/003: gradient clipping, spikes)."""

from __future__ import annotations

import math

import keras

__all__ = ["BatchLosses"]


class BatchLosses(keras.callbacks.Callback):
    r"""Record the training loss of every step (or of every ``steps_per_execution`` chunk).

    In Keras 3, ``logs["loss"]`` at ``on_train_batch_end`` is the running
    mean :math:`m_k = \frac1k \sum_{j \le k} \ell_j` over the epoch's first
    :math:`k` steps, not the loss of step :math:`k`. The step losses follow
    from consecutive means:

    .. math:: \ell_k = k\,m_k - (k-1)\,m_{k-1} .

    With ``steps_per_execution = s`` Keras calls back once per chunk of
    :math:`s` steps with the index of its last step, and the recovered value
    is the chunk's mean loss :math:`(k\,m_k - k'\,m_{k'})/(k-k')`. The
    running mean is a float32 number, so :math:`\ell_k` carries an absolute
    rounding error of about :math:`k \cdot 6\times10^{-8} \cdot m_k`
    (1e-4 relative after ~1,600 steps): fine for curves and spikes. Once the
    mean is not finite (a divergence) the recovered losses are ``inf``/``nan``
    from then on, as the running mean is.

    After ``fit``: ``self.losses`` (one float per callback call),
    ``self.epochs`` (the 0-based epoch of each) and ``self.steps`` (the
    1-based step within its epoch). Reset at every ``on_train_begin``.

    Example:

    >>> cb = BatchLosses()
    >>> cb.losses
    []
    """

    def __init__(self):
        super().__init__()
        self.losses, self.epochs, self.steps = [], [], []

    def on_train_begin(self, logs=None):
        self.losses, self.epochs, self.steps = [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._prev_k, self._prev_m = epoch, 0, 0.0

    def on_train_batch_end(self, batch, logs=None):
        m = float((logs or {}).get("loss", float("nan")))
        k = int(batch) + 1
        if k <= self._prev_k:  # should not happen; restart the running mean rather than divide by <= 0
            self._prev_k, self._prev_m = 0, 0.0
        if math.isfinite(m) and math.isfinite(self._prev_m):
            raw = (k * m - self._prev_k * self._prev_m) / (k - self._prev_k)
        else:
            raw = m
        self._prev_k, self._prev_m = k, m
        self.losses.append(raw)
        self.epochs.append(self._epoch)
        self.steps.append(k)
