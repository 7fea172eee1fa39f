"""DropConnect (Wan et al. 2013): a Dense layer that drops weights."""

from __future__ import annotations

import keras
from keras import ops

from kreg._validation import check_bool, check_choice, check_float, check_int
from kreg.layers import _per_example, _random

__all__ = ["DropConnect"]

# mask="example": the automatic chunk holds about this many mask entries (a float32 masked kernel of 8 MiB)
_CHUNK_ELEMENTS = 2**21
_MAX_MASK_BITS = 16


def _example_mask_bits(rate):
    """``(bits, threshold)`` of the per-example masks: keep iff a uniform ``bits``-bit integer < ``threshold``.

    ``bits`` is the smallest of 1, 2, 4, 8, 16 for which ``(1 - rate) * 2**bits`` is an integer (the keep
    probability is then exact), else 16 with ``threshold = round((1 - rate) * 2**16)``, at least 1.
    """
    keep = 1.0 - rate
    for bits in (1, 2, 4, 8, _MAX_MASK_BITS):
        t = keep * 2**bits
        if t == int(t):
            return bits, int(t)
    return _MAX_MASK_BITS, max(1, min(2**_MAX_MASK_BITS, round(keep * 2**_MAX_MASK_BITS)))


@keras.saving.register_keras_serializable(package="kreg")
class DropConnect(keras.layers.Layer):
    r"""Fully connected layer with DropConnect: random weights are dropped.

    Dropout zeroes activations; DropConnect zeroes individual *connections*.
    With input ``v``, kernel ``W`` and a mask ``M_ij ~ Bernoulli(p)``, ``p = 1 - rate``
    the keep probability, training computes (inverted scaling, as Keras's
    dropout)

    .. math::

        u = \left(\frac{M \odot W}{p}\right)^\top v + b, \qquad y = f(u),

    so that ``E_M[u] = W^T v + b``: inference with the mean weights
    (``inference="mean"``, ``y = f(W^T v + b)``) is unbiased and deterministic.

    ``inference="gaussian"`` is the paper's moment matching (deck 002,
    DropConnect slide). The paper trains with unscaled ``M ⊙ W'`` and writes
    ``E[u] = p W'v``, ``V[u] = p(1-p)(W'⊙W')(v⊙v)``. Our trained kernel is
    ``W = p W'`` (inverted scaling), so, per output unit ``j``:

    .. math::

        E[u_j] = \sum_i W_{ij} v_i + b_j, \qquad
        V[u_j] = \frac{1-p}{p}\sum_i W_{ij}^2 v_i^2
               = \frac{\text{rate}}{1-\text{rate}}\,(W\odot W)^\top(v\odot v).

    ``num_samples`` draws ``u^{(s)} ~ N(E[u], V[u])`` are passed through the
    activation and averaged: ``y = 1/S sum_s f(u^{(s)})``. This only differs
    from mean inference through the non-linearity, so **Gaussian inference
    needs the activation inside the layer** (``activation="relu"``, not a
    separate ``Activation`` layer); with a linear layer it just adds noise.
    Gaussian inference is random (seeded by ``seed``).

    ``mask="batch"`` masks are drawn and compared with ``rate`` in float32,
    ``mask="example"`` masks from integer bits; ``W / p`` is computed in
    float32 and cast once to the compute dtype, so the keep probability and
    the masks themselves do not depend on the compute dtype
    (``mixed_bfloat16`` included).

    Masks: ``mask="batch"`` draws one ``(in, out)`` mask per call (the common
    implementation); ``mask="example"`` draws one mask per example, as in the
    paper (inputs are flattened to ``(B', in)`` over their leading axes):

    .. math::

        u_{bj} = \frac{1}{p'} \sum_i v_{bi}\, M_{bij} W_{ij} + b_j, \qquad
        M_{bij} \overset{\text{i.i.d.}}{\sim} \text{Bernoulli}(p')

    independently for every example ``b``, input ``i``, output ``j`` and
    call. The masks come from random *bits*, not uniform floats: ``M = 1``
    iff a uniform ``k``-bit integer is below ``t``, so the keep probability
    is exactly ``p' = t / 2**k``. ``k`` is the smallest of 1, 2, 4, 8, 16
    for which ``p * 2**k`` is an integer, and then ``p' = p`` exactly (rate
    0.5: one bit a mask, 32 masks from one 32-bit word; rate 0.25: two
    bits); for any other rate ``k = 16``, ``t = round(p * 2**16)`` and
    ``|p' - p| <= 2**-17`` (7.6e-6). The kept weights are scaled by
    ``1 / p'``, so ``E[u] = W^T v + b`` exactly either way. The batch is
    processed ``chunk_size`` examples at a time and the backward pass draws
    the same masks again from the call's seed instead of storing them, so at
    most ``chunk_size x in x out`` masked weights exist at once (by default
    as many examples as fit in 2**21 entries, an 8 MiB float32 chunk; never
    the whole ``B x in x out``). The bits come from each backend's own
    generator, seeded from ``seed`` (JAX ``jax.random.bits``, TensorFlow
    ``stateless_uniform``, a ``torch.Generator``): a given seed reproduces
    the masks on one backend, not across backends, and the chunk size is
    part of what the masks depend on. Compute: the same ``B x in x out``
    multiply-adds as ``mask="batch"``, but as a batched matrix-vector
    product, so it costs several times a dense layer's train step (see the
    README's benchmark section).

    Args:
        units: int >= 1, output dimension.
        rate: float in [0, 1), probability of dropping a weight (``1 - p``).
        activation: activation (name or callable); ``None`` is linear.
        use_bias: bool; the bias is never dropped.
        kernel_initializer, bias_initializer: initializers.
        kernel_regularizer, bias_regularizer: optional regularizers.
        kernel_constraint, bias_constraint: optional constraints.
        seed: optional int, seed of the layer's ``SeedGenerator``.
        mask: ``"batch"`` or ``"example"``.
        inference: ``"mean"`` or ``"gaussian"``.
        num_samples: int >= 1, Gaussian draws averaged at inference.
        chunk_size: ``None`` or int >= 1, examples per chunk of ``mask="example"``
            (memory ``chunk_size x in x out`` masked weights; larger chunks suit a
            GPU). ``None`` picks ``max(1, 2**21 // (in * units))``.

    Call arguments:
        inputs: tensor ``(..., in)``.
        training: bool; random masks when True, the inference rule otherwise.

    Input shape:
        ``(batch, ..., input_dim)``.

    Output shape:
        ``(batch, ..., units)``.

    Example:

    >>> layer = DropConnect(4, rate=0.5, seed=0)
    >>> tuple(layer(keras.ops.ones((2, 3)), training=True).shape)
    (2, 4)

    Reference:
        Wan, Zeiler, Zhang, LeCun & Fergus, "Regularization of Neural Networks
        using DropConnect", ICML 2013. Lecture: deck 000 (dropout vs
        DropConnect network figure) and deck 002, "DropConnect" (Gaussian
        approximation at test).
    """

    def __init__(
        self,
        units,
        rate=0.5,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        mask="batch",
        inference="mean",
        num_samples=100,
        chunk_size=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("units", units, low=1)
        check_float("rate", rate, low=0.0, high=1.0, high_inclusive=False)
        check_bool("use_bias", use_bias)
        check_int("seed", seed, allow_none=True)
        check_choice("mask", mask, ("batch", "example"))
        check_choice("inference", inference, ("mean", "gaussian"))
        check_int("num_samples", num_samples, low=1)
        check_int("chunk_size", chunk_size, low=1, allow_none=True)
        self.units = units
        self.rate = rate
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.seed = seed
        self.mask = mask
        self.inference = inference
        self.num_samples = num_samples
        self.chunk_size = chunk_size
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"DropConnect needs a known last dimension. Received: input_shape={input_shape}")
        self.kernel = self.add_weight(
            shape=(in_dim, self.units), name="kernel", initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
        )
        self.bias = (
            self.add_weight(shape=(self.units,), name="bias", initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)
            if self.use_bias else None
        )

    def _keep(self, shape):
        """The minibatch keep mask over ``shape``: drawn and compared with ``rate`` in float32, whatever the
        compute dtype; the same on every ``tf.distribute`` replica, as one device would draw it for the
        global batch (per-example masks are drawn per replica: see ``kreg.layers._per_example``).
        """
        u = keras.random.uniform(shape, dtype="float32", seed=self.seed_generator)
        return ops.cast(ops.greater_equal(u, self.rate), "float32")

    def call(self, inputs, training=False):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        keep = 1.0 - self.rate
        if training and self.rate > 0:
            # M * W / p in float32, rounded once to the compute dtype (bfloat16 would bias the draw)
            kernel32 = ops.cast(self.kernel, "float32")
            if self.mask == "batch":
                w = ops.cast(kernel32 * self._keep(ops.shape(kernel32)) / keep, self.compute_dtype)
                u = ops.matmul(inputs, w)
            else:
                bits, threshold = _example_mask_bits(self.rate)
                keep_exact = threshold / 2**bits
                lead = ops.shape(inputs)[:-1]
                v = ops.reshape(inputs, (-1, kernel.shape[0]))
                w = ops.cast(kernel32 / keep_exact, self.compute_dtype)
                chunk = self.chunk_size or max(1, _CHUNK_ELEMENTS // (kernel.shape[0] * self.units))
                u = _per_example.masked_matmul(v, w, self.seed_generator, bits=bits, threshold=threshold,
                                               chunk=chunk)
                u = ops.reshape(u, tuple(lead) + (self.units,))
            if self.bias is not None:
                u = u + ops.cast(self.bias, u.dtype)
            return self.activation(u)
        mean = ops.matmul(inputs, kernel)
        if self.bias is not None:
            mean = mean + ops.cast(self.bias, mean.dtype)
        if self.inference == "mean" or self.rate == 0:
            return self.activation(mean)
        var = (self.rate / keep) * ops.matmul(ops.square(inputs), ops.square(kernel))
        std = ops.sqrt(var)
        eps = _random.normal((self.num_samples,) + tuple(ops.shape(mean)), self.seed_generator, dtype=mean.dtype)
        return ops.mean(self.activation(ops.expand_dims(mean, 0) + ops.expand_dims(std, 0) * eps), axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        s = keras.saving.serialize_keras_object
        config.update(
            units=self.units,
            rate=self.rate,
            activation=keras.activations.serialize(self.activation),
            use_bias=self.use_bias,
            kernel_initializer=s(self.kernel_initializer),
            bias_initializer=s(self.bias_initializer),
            kernel_regularizer=s(self.kernel_regularizer),
            bias_regularizer=s(self.bias_regularizer),
            kernel_constraint=s(self.kernel_constraint),
            bias_constraint=s(self.bias_constraint),
            seed=self.seed,
            mask=self.mask,
            inference=self.inference,
            num_samples=self.num_samples,
            chunk_size=self.chunk_size,
        )
        return config
