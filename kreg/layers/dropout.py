"""Dropout as the lectures teach it (inverted and vanilla), and MC prediction."""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import ops

from kreg._validation import check_bool, check_choice, check_float, check_int, invalid
from kreg.layers import _random

__all__ = ["Dropout", "mc_predict"]


@keras.saving.register_keras_serializable(package="kreg")
class Dropout(keras.layers.Layer):
    r"""Dropout with the lectures' two scaling conventions and optional MC mode.

    Each unit is kept with probability ``1 - rate`` (``m ~ Bernoulli(1 - rate)``)
    and zeroed otherwise. The two modes differ only in *where* the scaling by
    the keep probability goes; both have the same expected output:

    - ``mode="inverted"`` (Keras and PyTorch): training ``y = m * x / (1 - rate)``,
      inference ``y = x``.
    - ``mode="vanilla"`` (Srivastava et al. 2014, deck 000 "weight scaling"):
      training ``y = m * x``, inference ``y = (1 - rate) * x``.

    In both cases ``E_m[y_train] = y_test``. The mask is drawn and compared
    with ``rate`` in float32 and the inverted scaling is computed in float32,
    whatever the compute dtype, so under ``mixed_bfloat16`` the keep
    probability is ``1 - rate`` (a bfloat16 comparison kept 0.6945 to 0.6975
    of the units for ``rate=0.3``, a 0.8% bias of the expected activation). Monte-Carlo dropout (deck 000,
    ensemble interpretation) keeps the masks at prediction time: call the
    layer with ``training=True``, build it with ``mc=True`` (masks on whatever
    ``training`` says, so ``model.predict`` samples sub-networks), or use
    :func:`mc_predict`, which switches ``mc`` on for every ``kreg`` Dropout in a
    model while it averages ``samples`` stochastic forward passes.

    Args:
        rate: float in [0, 1), the drop probability ``p`` (the decks' ``1 - p``
            when they call ``p`` the keep probability).
        mode: ``"inverted"`` or ``"vanilla"``.
        noise_shape: ``None`` or a tuple with the shape of the binary mask,
            ``None`` entries taking the input's size (e.g. ``(None, 1, 1, C)``
            drops whole feature maps), as in ``keras.layers.Dropout``. It must
            have the input's rank, and each fixed entry must be 1 or the
            input's size on that axis (checked when the layer is called).
        seed: optional int, seed of the layer's ``SeedGenerator``.
        mc: bool, keep the masks on at inference (Monte-Carlo dropout).

    Call arguments:
        inputs: a tensor of any rank.
        training: bool, training mode (masks on) or inference.

    Input shape:
        Arbitrary.

    Output shape:
        Same as the input.

    Example:

    >>> layer = Dropout(0.5, mode="vanilla", seed=0)
    >>> tuple(layer(keras.ops.ones((2, 3)), training=True).shape)
    (2, 3)

    Reference:
        Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks
        from Overfitting", JMLR 2014. Lecture: deck 000 "Dropout" slides
        (weight scaling at test time, inverted dropout code) and deck 004.
    """

    def __init__(self, rate, mode="inverted", noise_shape=None, seed=None, mc=False, **kwargs):
        super().__init__(**kwargs)
        check_float("rate", rate, low=0.0, high=1.0, high_inclusive=False)
        check_choice("mode", mode, ("inverted", "vanilla"))
        if noise_shape is not None:
            if not isinstance(noise_shape, (tuple, list)) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in noise_shape
            ):
                raise invalid("noise_shape", noise_shape, "None or a tuple of positive integers or None")
            noise_shape = tuple(noise_shape)
        check_int("seed", seed, allow_none=True)
        check_bool("mc", mc)
        self.rate = rate
        self.mode = mode
        self.noise_shape = noise_shape
        self.seed = seed
        self.mc = mc
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def _check_noise_shape(self, input_shape):
        """Raise unless ``noise_shape`` broadcasts to ``input_shape`` without changing it."""
        if self.noise_shape is None:
            return
        input_shape = tuple(input_shape)
        rank = len(input_shape)
        if len(self.noise_shape) != rank:
            raise invalid(
                "noise_shape", self.noise_shape,
                f"a tuple of the input's rank {rank} (input shape {input_shape}), with None or 1 on "
                "the axes that share one mask",
            )
        for d, n in zip(self.noise_shape, input_shape):
            if d is not None and d != 1 and n is not None and d != n:
                raise invalid(
                    "noise_shape", self.noise_shape,
                    f"entries that are None, 1 or the input's size on that axis (input shape {input_shape})",
                )

    def _mask(self, inputs):
        """The scaled keep mask, float32: ``m / (1 - rate)`` (inverted) or ``m`` (vanilla)."""
        if self.noise_shape is None:
            shape = ops.shape(inputs)
        else:
            full = ops.shape(inputs)
            shape = tuple(full[i] if d is None else d for i, d in enumerate(self.noise_shape))
        # float32 draw and comparison: a bfloat16 uniform compared with rate rounded to bfloat16
        # keeps the wrong fraction of units
        if self.noise_shape is None or self.noise_shape[0] is None:  # one mask per example
            u = _random.uniform(shape, self.seed_generator, dtype="float32")  # independent across TF replicas
        else:  # one mask shared by the whole batch: the same on every replica, as on one device
            u = keras.random.uniform(shape, dtype="float32", seed=self.seed_generator)
        mask = ops.cast(ops.greater_equal(u, self.rate), "float32")
        if self.mode == "inverted":
            mask = mask / (1.0 - self.rate)
        return mask

    def call(self, inputs, training=False):
        self._check_noise_shape(inputs.shape)
        if self.rate == 0:
            return inputs
        if training or self.mc:
            y = ops.cast(inputs, "float32") * self._mask(inputs)
            return ops.cast(y, inputs.dtype)
        if self.mode == "vanilla":
            return ops.cast(ops.cast(inputs, "float32") * (1.0 - self.rate), inputs.dtype)
        return inputs

    def compute_output_shape(self, input_shape):
        self._check_noise_shape(input_shape)
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            rate=self.rate,
            mode=self.mode,
            noise_shape=None if self.noise_shape is None else list(self.noise_shape),
            seed=self.seed,
            mc=self.mc,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("noise_shape") is not None:
            config["noise_shape"] = tuple(config["noise_shape"])
        return cls(**config)


def _all_layers(model):
    """Every layer below ``model`` (nested models included)."""
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer)
        if hasattr(layer, "layers"):
            out.extend(_all_layers(layer))
    return out


def _num_rows(x):
    """Rows of ``x`` (an array, or a list/tuple/dict of arrays with the same number of rows)."""
    if isinstance(x, dict):
        leaves = list(x.values())
    elif isinstance(x, (list, tuple)):
        leaves = list(x)
    else:
        leaves = [x]
    if not leaves or not all(hasattr(a, "shape") and len(tuple(a.shape)) >= 1 for a in leaves):
        raise invalid("x", x, "an array, or a list, tuple or dict of arrays, with a batch axis")
    rows = {int(a.shape[0]) for a in leaves}
    if len(rows) != 1:
        raise invalid("x", x, f"input arrays with the same number of rows (received {sorted(rows)})")
    return rows.pop()


def _stack(x, copies):
    """``copies`` copies of ``x`` (an array, or a list/tuple/dict of arrays) one after another along the batch axis."""
    def tile(a):
        a = np.asarray(keras.ops.convert_to_numpy(a))
        return np.concatenate([a] * copies, axis=0)

    if isinstance(x, (list, tuple)):
        return type(x)(tile(a) for a in x)
    if isinstance(x, dict):
        return {k: tile(v) for k, v in x.items()}
    return tile(x)


def _slices(x, batch_size):
    n = _num_rows(x)
    for i in range(0, max(n, 1), batch_size):
        if isinstance(x, (list, tuple)):
            yield type(x)(a[i : i + batch_size] for a in x)
        elif isinstance(x, dict):
            yield {k: v[i : i + batch_size] for k, v in x.items()}
        else:
            yield x[i : i + batch_size]


#: Rows per call of :func:`mc_predict` when ``batch_size`` is not given (several samples stacked in one call).
MC_ROWS_PER_CALL = 8192


def mc_predict(model, x, samples, *, average="arithmetic", batch_size=None, from_logits=False):
    r"""Monte-Carlo dropout prediction: average ``samples`` stochastic passes.

    Every :class:`kreg.layers.Dropout` in ``model`` keeps its masks on (its
    ``mc`` flag is set for the duration of the call and restored after);
    every other layer, batch normalization included, runs in inference mode.
    With per-sample probabilities ``p_s(y|x)``:

    - ``average="arithmetic"``: ``p(y|x) = 1/S sum_s p_s(y|x)`` (Gal &
      Ghahramani's MC dropout);
    - ``average="geometric"``: ``p(y|x) ∝ prod_s p_s(y|x)^(1/S)``, renormalized
      over the classes (the ensemble view of deck 000: for a softmax layer,
      weight scaling computes exactly this geometric mean). A single sigmoid
      output (last axis of size 1) is treated as two classes ``(1-p, p)``.

    Args:
        model: a Keras model containing at least one ``kreg.layers.Dropout``.
        x: inputs accepted by ``model`` (array, or list/dict of arrays).
        samples: int >= 1, number of stochastic forward passes.
        average: ``"arithmetic"`` or ``"geometric"``.
        batch_size: at most this many rows per call of the model (``None``:
            ``max(len(x), MC_ROWS_PER_CALL)``, 8,192). When all of ``x``
            fits several times, one call carries several samples: ``x`` is
            stacked ``c`` times along the batch axis and each copy is one
            sample. Every ``Dropout`` draws its mask per row, so the copies
            are independent samples; a ``Dropout`` whose ``noise_shape``
            shares one mask across the batch axis (first entry 1) gets one
            sample per call instead. Why: each eager call of a small model
            costs milliseconds of dispatch; ``l10_dropout``'s 1,365
            samples over 500 digits took 9.9 s per seed one call each
            under JAX, 4.5 s stacked 16 to a call.
        from_logits: the model outputs logits; softmax (sigmoid for one
            output unit) is applied to each pass before averaging.

    Returns:
        A numpy array of averaged probabilities, shaped like the model output.

    Reference:
        Gal & Ghahramani, "Dropout as a Bayesian Approximation", ICML 2016;
        Srivastava et al. 2014, Sec. 7.5. Lecture: deck 000, ensemble view.
    """
    check_int("samples", samples, low=1)
    check_choice("average", average, ("arithmetic", "geometric"))
    check_int("batch_size", batch_size, low=1, allow_none=True)
    check_bool("from_logits", from_logits)
    if not isinstance(model, keras.Model):
        raise invalid("model", model, "a keras.Model", exc=TypeError)
    n_rows = _num_rows(x)  # a dict's len() is its number of keys, not of rows
    layers = _all_layers(model)
    drops = [layer for layer in layers if isinstance(layer, Dropout)]
    if not drops:
        raise ValueError(
            "mc_predict needs at least one kreg.layers.Dropout in the model "
            "(keras.layers.Dropout cannot be switched on alone at inference). "
            f"Received a model with layers: {[layer.name for layer in layers]}"
        )
    if any(type(layer) is keras.layers.Dropout for layer in layers):
        warnings.warn(
            "mc_predict: keras.layers.Dropout layers stay off at inference; "
            "only kreg.layers.Dropout layers sample masks.",
            stacklevel=2,
        )
    if batch_size is None:
        batch_size = max(n_rows, MC_ROWS_PER_CALL)
    per_row = all(layer.noise_shape is None or layer.noise_shape[0] is None for layer in drops)
    copies = max(1, batch_size // max(n_rows, 1)) if per_row else 1  # samples per call
    eps = 1e-12
    saved = [layer.mc for layer in drops]
    try:
        for layer in drops:
            layer.mc = True
        total, done, stacked = None, 0, {}
        while done < samples:
            c = min(copies, samples - done)
            if c > 1:
                if c not in stacked:
                    stacked = {c: _stack(x, c)}  # the full-size stack is reused; only the last call differs
                out = keras.ops.convert_to_numpy(model(stacked[c], training=False))
                out = out.reshape((c, n_rows) + out.shape[1:])
            else:
                outs = [keras.ops.convert_to_numpy(model(xb, training=False)) for xb in _slices(x, batch_size)]
                out = np.concatenate(outs, axis=0)[None]
            out = out.astype("float64")
            binary = out.shape[-1] == 1
            if from_logits:
                if binary:
                    out = 1.0 / (1.0 + np.exp(-out))
                else:
                    out = np.exp(out - out.max(axis=-1, keepdims=True))
                    out /= out.sum(axis=-1, keepdims=True)
            if average == "geometric":
                if binary:
                    out = np.concatenate([1.0 - out, out], axis=-1)
                out = np.log(np.clip(out, eps, 1.0))
            out = out.sum(axis=0)
            total = out if total is None else total + out
            done += c
    finally:
        for layer, flag in zip(drops, saved):
            layer.mc = flag
    mean = total / samples
    if average == "geometric":
        g = np.exp(mean - mean.max(axis=-1, keepdims=True))
        g /= g.sum(axis=-1, keepdims=True)
        mean = g[..., 1:] if binary else g
    return mean.astype("float32")
