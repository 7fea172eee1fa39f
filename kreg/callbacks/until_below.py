"""Stop once a monitored quantity falls below a fixed threshold (Goodfellow et al., Alg. 7.3; deck 002)."""

from __future__ import annotations

import keras

from kreg._validation import check_float, invalid
from kreg.callbacks._monitor import monitor_value, print_msg

__all__ = ["UntilBelow"]


class UntilBelow(keras.callbacks.Callback):
    r"""Stop training at the end of the first epoch where ``logs[monitor] < threshold``.

    Deck 002 (early stopping, "how to reuse the validation data"), strategy
    (2) of Goodfellow et al., *Deep Learning*, Alg. 7.3: after early stopping
    at step :math:`i^*` with training loss :math:`\epsilon =
    J(\theta_{i^*}; X_\text{train})`, keep training on train + validation
    until the loss on the validation set falls below :math:`\epsilon`:

    .. math:: \text{stop after epoch } e \iff J(\theta_e; X_\text{val}) < \epsilon .

    Unlike ``EarlyStopping`` it compares with a fixed number, not with the
    best value so far, and it never restores weights. If the threshold is
    never reached, training runs for the ``epochs`` given to ``fit`` (cap it
    there).

    Args:
        threshold: the finite number the monitored value must fall below.
        monitor: the key of the epoch logs to watch (default ``"val_loss"``).
        verbose: 1 prints a line when it stops training.

    Writes ``logs["until_below_reached"]`` (1.0 at the epoch it stops, else
    0.0) so the decision lands in ``History``. After ``fit``,
    ``self.reached`` is the 0-based epoch at which it stopped, or ``None``.
    A missing key warns with the available keys, as Keras's callbacks do.

    Example:

    >>> cb = UntilBelow(0.12, monitor="val_loss")
    >>> cb.threshold
    0.12
    """

    def __init__(self, threshold, monitor="val_loss", verbose=0):
        super().__init__()
        self.threshold = check_float("threshold", threshold)
        if not isinstance(monitor, str) or not monitor:
            raise invalid("monitor", monitor, "a non-empty string (a key of the fit logs)", exc=TypeError)
        if verbose not in (0, 1):
            raise invalid("verbose", verbose, "0 or 1")
        self.monitor = monitor
        self.verbose = verbose
        self.reached = None

    def on_train_begin(self, logs=None):
        self.reached = None

    def on_epoch_end(self, epoch, logs=None):
        value = monitor_value("UntilBelow", self.monitor, logs)
        hit = value is not None and value < self.threshold
        if logs is not None:
            logs["until_below_reached"] = 1.0 if hit else 0.0
        if hit:
            self.reached = epoch
            self.model.stop_training = True
            if self.verbose:
                print_msg(f"Epoch {epoch + 1}: UntilBelow: {self.monitor} = {value:.5g} < {self.threshold:.5g}; "
                          "stopping training.")
