"""Batch normalization as Ioffe & Szegedy write it (Algorithms 1 and 2)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kreg._validation import check_bool, check_float, check_int, invalid

__all__ = ["BatchNorm", "estimate_batchnorm_statistics"]


@keras.saving.register_keras_serializable(package="kreg")
class BatchNorm(keras.layers.Layer):
    r"""Batch normalization, Algorithm 1 of Ioffe & Szegedy (2015).

    For a mini-batch ``B = {x_1..x_m}`` (``m`` = batch size times every
    non-channel axis), per channel:

    .. math::

        \mu_B = \frac{1}{m}\sum_i x_i, \quad
        \sigma_B^2 = \frac{1}{m}\sum_i (x_i - \mu_B)^2, \quad
        \hat x_i = \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \quad
        y_i = \gamma \hat x_i + \beta.

    Training uses the batch statistics (so the output equals
    ``keras.layers.BatchNormalization(training=True)``) and updates running
    averages ``moving = momentum * moving + (1 - momentum) * batch``. Unlike
    Keras, the running variance accumulates the *unbiased* batch variance
    ``m/(m-1) sigma_B^2``, as in Algorithm 2. Inference uses
    ``y = gamma (x - moving_mean) / sqrt(moving_variance + eps) + beta``.
    :func:`estimate_batchnorm_statistics` replaces the running averages by
    Algorithm 2's population estimate.

    The normalization makes the layer scale-invariant:
    ``BN(W u) = BN(a W u)`` for any ``a > 0`` (up to ``epsilon``), deck 002.

    Args:
        axis: int, the channel axis (``-1`` channels-last, ``1``
            channels-first).
        momentum: float in [0, 1], momentum of the running averages.
        epsilon: float > 0 added to the variance.
        center: bool, learn the offset ``beta``.
        scale: bool, learn the scale ``gamma``.
        beta_initializer, gamma_initializer: initializers.
        moving_mean_initializer, moving_variance_initializer: initializers.
        beta_regularizer, gamma_regularizer: optional regularizers.
        beta_constraint, gamma_constraint: optional constraints.

    Call arguments:
        inputs: a tensor of rank >= 2.
        training: bool; batch statistics (and running-average update) when
            True, running statistics otherwise.

    Input shape:
        Arbitrary, rank >= 2.

    Output shape:
        Same as the input.

    Example:

    >>> layer = BatchNorm()
    >>> tuple(layer(keras.ops.ones((4, 3)), training=True).shape)
    (4, 3)

    Reference:
        Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network
        Training by Reducing Internal Covariate Shift", ICML 2015
        (Algorithms 1 and 2). Lecture: decks 001-003, "Batch normalization".
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("axis", axis)
        check_float("momentum", momentum, low=0.0, high=1.0)
        check_float("epsilon", epsilon, low=0.0, low_inclusive=False)
        check_bool("center", center)
        check_bool("scale", scale)
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.moving_mean_initializer = keras.initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = keras.initializers.get(moving_variance_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.supports_masking = True

    def _channel_axis(self, rank):
        axis = self.axis if self.axis >= 0 else rank + self.axis
        if rank < 2 or not 0 < axis < rank:
            raise invalid("axis", self.axis, f"a non-batch axis of an input of rank {rank}")
        return axis

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self._channel_axis(rank)
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"BatchNorm needs a known channel dimension on axis {self.axis}. Received: input_shape={input_shape}")
        shape = (channels,)
        self.gamma = (
            self.add_weight(shape=shape, name="gamma", initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
            if self.scale else None
        )
        self.beta = (
            self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint)
            if self.center else None
        )
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean",
                                           initializer=self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               initializer=self.moving_variance_initializer, trainable=False)
        self._reduce = tuple(i for i in range(rank) if i != axis)
        self._bshape = tuple(channels if i == axis else 1 for i in range(rank))

    def call(self, inputs, training=False):
        dtype = inputs.dtype
        x = ops.cast(inputs, "float32")
        if training:
            mean, var = ops.moments(x, axes=self._reduce)
            shape = ops.shape(x)
            m = 1
            for i in self._reduce:
                m = m * shape[i]
            m = ops.cast(m, "float32")
            unbiased = var * m / ops.maximum(m - 1.0, 1.0)
            mom = self.momentum
            self.moving_mean.assign(mom * self.moving_mean + (1.0 - mom) * mean)
            self.moving_variance.assign(mom * self.moving_variance + (1.0 - mom) * unbiased)
        else:
            mean, var = self.moving_mean, self.moving_variance
        inv = ops.rsqrt(ops.reshape(var, self._bshape) + self.epsilon)
        if self.gamma is not None:
            inv = inv * ops.reshape(ops.cast(self.gamma, "float32"), self._bshape)
        y = (x - ops.reshape(mean, self._bshape)) * inv
        if self.beta is not None:
            y = y + ops.reshape(ops.cast(self.beta, "float32"), self._bshape)
        return ops.cast(y, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        s = keras.saving.serialize_keras_object
        config.update(
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=s(self.beta_initializer),
            gamma_initializer=s(self.gamma_initializer),
            moving_mean_initializer=s(self.moving_mean_initializer),
            moving_variance_initializer=s(self.moving_variance_initializer),
            beta_regularizer=s(self.beta_regularizer),
            gamma_regularizer=s(self.gamma_regularizer),
            beta_constraint=s(self.beta_constraint),
            gamma_constraint=s(self.gamma_constraint),
        )
        return config


def _batchnorm_layers(model):
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, (BatchNorm, keras.layers.BatchNormalization)):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(_batchnorm_layers(layer))
    return found


def _batches(x, batch_size):
    """Yield input batches from arrays (sliced) or an iterable of batches."""
    multi = isinstance(x, (list, tuple)) and x and all(hasattr(a, "shape") for a in x)
    if multi or isinstance(x, (np.ndarray, dict)) or hasattr(x, "shape"):
        first = x
        if isinstance(x, (list, tuple)):
            first = x[0]
        elif isinstance(x, dict):
            first = next(iter(x.values()))
        n = len(first)
        stops = list(range(batch_size, n + 1, batch_size)) or [n]  # full batches only
        for stop in stops:
            start = stop - batch_size if stop >= batch_size else 0
            if isinstance(x, (list, tuple)):
                yield type(x)(np.asarray(a)[start:stop] for a in x)
            elif isinstance(x, dict):
                yield {k: np.asarray(v)[start:stop] for k, v in x.items()}
            else:
                yield np.asarray(x)[start:stop]
    else:
        for batch in x:
            yield batch[0] if isinstance(batch, tuple) else batch


def estimate_batchnorm_statistics(model, x, *, batch_size=32):
    r"""Algorithm 2 of Ioffe & Szegedy: population statistics for inference.

    For every batch-normalization layer of ``model`` (``kreg.layers.BatchNorm``
    and ``keras.layers.BatchNormalization``, nested models included), with the
    layer's input ``x`` over mini-batches ``B`` of ``m`` values per channel
    (batch size times every non-channel axis):

    .. math::

        E[x] \leftarrow E_B[\mu_B], \qquad
        Var[x] \leftarrow \frac{m}{m-1} E_B[\sigma_B^2],

    written into the layer's ``moving_mean`` and ``moving_variance``, so that
    inference computes ``y = gamma (x - E[x]) / sqrt(Var[x] + eps) + beta``.

    Layers are processed in order; the inputs of layer ``k`` are computed by
    the network in inference mode with layers ``1..k-1`` already updated
    (dropout off), i.e. the statistics the inference network will see. Only
    full batches of ``batch_size`` rows are used when ``x`` is an array
    (all rows, as one batch, when there are fewer than ``batch_size``).

    Args:
        model: a built functional or Sequential Keras model.
        x: input array (or list/dict of arrays, for a multi-input model), or
            any other iterable of input batches, e.g. a ``tf.data.Dataset``,
            a generator or a list of ``(x, y)`` tuples (a tuple batch uses its
            first element).
        batch_size: int >= 2, rows per mini-batch (``m`` in Algorithm 2).

    Returns:
        int, the number of layers updated.

    Reference:
        Ioffe & Szegedy, ICML 2015, Algorithm 2. Lecture: deck 002,
        "Batch normalization at inference".
    """
    check_int("batch_size", batch_size, low=2)
    layers = _batchnorm_layers(model)
    if not layers:
        return 0
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            "estimate_batchnorm_statistics needs a functional or Sequential model "
            f"with known inputs (build it on keras.Input). Received: {type(model).__name__}"
        )
    # build the feature models on the structure the model is called with (a single tensor, a list or a
    # dict), so that calling them with one array (or the same list/dict) matches it without Keras's
    # "The structure of `inputs` doesn't match" warning
    try:
        structure = model.input
    except (AttributeError, ValueError):  # e.g. a Sequential model on Input: use its inputs list
        structure = inputs
    if isinstance(structure, (list, tuple)) and len(structure) == 1:
        structure = structure[0]
    for layer in layers:
        try:
            feature = keras.Model(structure, layer.input)
        except Exception as err:  # nested or shared layers
            raise ValueError(
                f"Cannot reach the input of batch-norm layer {layer.name!r} from the "
                f"model's inputs: {err}"
            ) from err
        axis = layer.axis
        if isinstance(axis, (list, tuple)):
            axis = axis[0]
        sums = sqs = None
        count = 0
        for xb in _batches(x, batch_size):
            f = keras.ops.convert_to_numpy(feature(xb, training=False)).astype("float64")
            ax = axis % f.ndim
            red = tuple(i for i in range(f.ndim) if i != ax)
            m = int(np.prod([f.shape[i] for i in red]))
            mu = f.mean(axis=red)
            var = f.var(axis=red) * m / max(m - 1, 1)
            sums = mu if sums is None else sums + mu
            sqs = var if sqs is None else sqs + var
            count += 1
        if count == 0:
            raise ValueError("estimate_batchnorm_statistics received no data.")
        layer.moving_mean.assign((sums / count).astype("float32"))
        layer.moving_variance.assign((sqs / count).astype("float32"))
    return len(layers)
