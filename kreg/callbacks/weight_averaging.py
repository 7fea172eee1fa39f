"""Running average of parameters: EMA and SWA (deck 004, "Running average of parameters")."""

from __future__ import annotations

import warnings

import keras
import numpy as np

from kreg._validation import check_bool, check_choice, check_float, check_int, invalid
from kreg.layers.batch_norm import validate_bn_data

__all__ = ["WeightAveraging"]



class WeightAveraging(keras.callbacks.Callback):
    r"""Keep a running average of the trainable weights; use it at the end.

    ``mode="ema"`` (exponential moving average, Polyak-style), updated after
    every optimizer step (``on_train_batch_end``) from epoch
    ``start_epoch`` on; the first averaged step initialises it:

    .. math::

        \bar\theta_1 = \theta_1, \qquad
        \bar\theta_t = \beta \bar\theta_{t-1} + (1 - \beta)\, \theta_t

    with ``beta = decay`` (deck 004: "an exponentially decaying sum of
    previous weights").

    ``mode="swa"`` (stochastic weight averaging), the equal-weight mean of
    the weights at the end of every epoch ``e >= start_epoch``:

    .. math::

        \bar\theta_k = \frac{1}{k} \sum_{i=1}^{k} \theta_{e_i}
        = \bar\theta_{k-1} + \frac{\theta_{e_k} - \bar\theta_{k-1}}{k}

    The average is kept as float64 numpy copies outside the compiled train
    step (callbacks run in Python between steps; under JAX the callback
    syncs the train state before reading the weights, so ``"ema"`` costs a
    device-to-host copy per step).

    At the end of training the averaged weights are written into the model
    (``on_train_end``), then, when ``bn_data`` is given and the model has
    batch normalization, the population statistics are re-estimated for the
    averaged weights with ``kreg.layers.estimate_batchnorm_statistics``
    (Algorithm 2; SWA needs this since the stored statistics belong to
    other weights).

    ``swap_on_epoch=True`` evaluates with the averaged weights, like
    ``keras.callbacks.SwapEMAWeights``: they are swapped in for validation
    (``on_test_begin``) and kept in the model during ``on_epoch_end`` (so a
    later ``EarlyStopping`` or ``ModelCheckpoint`` sees the weights the
    ``val_*`` values were computed with), and swapped out again at the next
    ``on_epoch_begin`` so training continues from the raw weights. In
    ``"swa"`` mode the epoch's weights enter the average before validation
    (``on_test_begin``), so ``val_*`` is the current average's. With
    ``bn_data`` the batch-norm statistics are re-estimated at each swap (and
    the raw ones restored after).

    Which weights win: Keras's optimizer EMA (``use_ema=True``) is written
    into the model before ``on_train_end``, so this callback's average
    replaces it. Callbacks run ``on_train_end`` in list order: with
    ``[WeightAveraging(swap_on_epoch=True), EarlyStopping()]`` the final
    model is the average at the best epoch; with ``[EarlyStopping(),
    WeightAveraging()]`` it is the final average.

    Logs ``num_averaged`` (updates so far) every epoch.

    Args:
        mode: ``"ema"`` (per step) or ``"swa"`` (per epoch).
        decay: EMA decay ``beta`` in [0, 1); ignored by ``"swa"``.
        start_epoch: first epoch (0-based) whose weights enter the average.
        swap_on_epoch: evaluate with the averaged weights each epoch.
        bn_data: inputs for re-estimating batch-norm statistics, read as
            :func:`kreg.layers.estimate_batchnorm_statistics` reads them (an
            array, ``(x, y)``, a list/dict of arrays, or an iterable of
            batches such as a ``tf.data.Dataset`` or a torch ``DataLoader``);
            ``None`` leaves the statistics as they are. Checked here, so a
            string, a number, an empty array or (with ``swap_on_epoch``, which
            reads it every epoch) a one-shot generator fails before training
            rather than in ``on_train_end``.
        bn_batch_size: mini-batch size for that estimate (>= 2).
        verbose: 0 or 1.

    Example:

    >>> swa = WeightAveraging(mode="swa", start_epoch=5)
    >>> # model.fit(x, y, epochs=10, callbacks=[swa])  # model ends with the average

    Reference:
        Polyak & Juditsky, "Acceleration of stochastic approximation by
        averaging", 1992; Izmailov et al., "Averaging Weights Leads to Wider
        Optima and Better Generalization", UAI 2018. Deck 004, "Model
        ensembles: running average of parameters during training".
    """

    def __init__(
        self,
        mode="ema",
        decay=0.999,
        start_epoch=0,
        swap_on_epoch=False,
        bn_data=None,
        bn_batch_size=32,
        verbose=0,
    ):
        super().__init__()
        check_choice("mode", mode, ("ema", "swa"))
        check_float("decay", decay, low=0.0, high=1.0, high_inclusive=False)
        check_int("start_epoch", start_epoch, low=0)
        check_bool("swap_on_epoch", swap_on_epoch)
        if bn_data is not None:  # the estimator's own check, before training rather than in on_train_end
            validate_bn_data(bn_data, reusable=swap_on_epoch)
        check_int("bn_batch_size", bn_batch_size, low=2)
        check_int("verbose", verbose, low=0)
        self.mode = mode
        self.decay = decay
        self.start_epoch = start_epoch
        self.swap_on_epoch = swap_on_epoch
        self.bn_data = bn_data
        self.bn_batch_size = bn_batch_size
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.averaged_weights = None
        self.num_averaged = 0
        self._epoch = 0
        self._saved = None  # raw weights while the average is swapped in
        self._in_fit = False
        self._swa_epoch = -1  # last epoch whose weights entered the SWA average

    # -- helpers -----------------------------------------------------------
    def _sync(self):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()

    def _read(self):
        return [np.array(keras.ops.convert_to_numpy(v.value), dtype=np.float64) for v in self.model.trainable_weights]

    def _update(self):
        self._sync()
        weights = self._read()
        if self.averaged_weights is None:
            self.averaged_weights = weights
            self.num_averaged = 1
            return
        self.num_averaged += 1
        if self.mode == "ema":
            b = float(self.decay)
            self.averaged_weights = [b * a + (1.0 - b) * w for a, w in zip(self.averaged_weights, weights)]
        else:
            k = self.num_averaged
            self.averaged_weights = [a + (w - a) / k for a, w in zip(self.averaged_weights, weights)]

    def _assign_average(self):
        for v, a in zip(self.model.trainable_weights, self.averaged_weights):
            v.assign(a.astype(v.dtype))
        if self.bn_data is not None:
            from kreg.layers import estimate_batchnorm_statistics

            estimate_batchnorm_statistics(self.model, self.bn_data, batch_size=self.bn_batch_size)

    def _swap_in(self):
        if self._saved is not None or self.averaged_weights is None:
            return
        self._sync()
        self._saved = self.model.get_weights()
        self._assign_average()

    def _swap_out(self):
        if self._saved is None:
            return
        self.model.set_weights(self._saved)
        self._saved = None

    # -- callback hooks ----------------------------------------------------
    def on_train_begin(self, logs=None):
        self._reset()
        self._in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._swap_out()

    def on_train_batch_end(self, batch, logs=None):
        if self.mode == "ema" and self._epoch >= self.start_epoch:
            self._update()

    def _swa_update(self):
        """Add this epoch's raw weights to the SWA average (once per epoch)."""
        if self.mode != "swa" or self._epoch < self.start_epoch or self._swa_epoch == self._epoch:
            return
        self._swap_out()  # average the raw weights, never the swapped-in average
        self._update()
        self._swa_epoch = self._epoch

    def on_test_begin(self, logs=None):
        # Only during fit (validation): a standalone evaluate() is left alone.
        if self.swap_on_epoch and getattr(self, "_in_fit", False):
            # Validation runs after the epoch's last step and before
            # on_epoch_end: the epoch's weights enter the SWA average now, so
            # val_* is computed with the average that on_epoch_end (and a later
            # EarlyStopping or ModelCheckpoint) sees, not the previous epoch's.
            self._swa_update()
            self._swap_in()

    def on_test_end(self, logs=None):
        # Keep the average in the model until on_epoch_end is done (see doc).
        pass

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch
        self._swa_update()  # no-op if validation already did it
        if self.swap_on_epoch:
            self._swap_in()
        if logs is not None:
            logs["num_averaged"] = self.num_averaged

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._saved = None
        if self.averaged_weights is None:
            warnings.warn(
                f"WeightAveraging collected no weights (start_epoch={self.start_epoch}); "
                "the model keeps its final weights.",
                stacklevel=2,
            )
            return
        self._assign_average()
        if self.verbose > 0:
            print(f"WeightAveraging ({self.mode}): wrote the average of {self.num_averaged} weight sets into the model.")
