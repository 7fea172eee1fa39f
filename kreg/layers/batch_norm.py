"""Batch normalization as Ioffe & Szegedy write it (Algorithms 1 and 2)."""

from __future__ import annotations

import collections.abc
import numbers

import keras
import numpy as np
from keras import ops

from kreg._validation import check_bool, check_float, check_int, invalid

__all__ = ["BatchNorm", "estimate_batchnorm_statistics", "validate_bn_data"]


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

    Mixed precision: ``gamma``, ``beta`` and the running averages are
    float32 variables read as float32 (``autocast=False``, as in Keras's
    ``BatchNormalization``), and the statistics and the normalization are
    computed in float32 whatever the compute dtype; only the output is cast
    back to it. So under ``mixed_float16`` a running mean of data near 100
    is not rounded to float16 at every update.

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
        # autocast=False: under a mixed policy the variables stay float32 *when read* in call (Keras's
        # BatchNormalization does the same); with autocast they were read as float16, TensorFlow refused
        # to multiply them with the float32 statistics and JAX rounded the running averages to float16.
        self.gamma = (
            self.add_weight(shape=shape, name="gamma", initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint,
                            autocast=False)
            if self.scale else None
        )
        self.beta = (
            self.add_weight(shape=shape, name="beta", initializer=self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint,
                            autocast=False)
            if self.center else None
        )
        # aggregation="mean": under tf.distribute.MirroredStrategy each replica updates the moving statistics
        # from its own shard and the variable keeps the mean over replicas (with Keras's default, "none", it
        # keeps one replica's value: Keras 3.15's own BatchNormalization(synchronized=False) does that).
        # JAX's DataParallel and one device ignore it.
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean", initializer=self.moving_mean_initializer,
                                           trainable=False, autocast=False, aggregation="mean")
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               initializer=self.moving_variance_initializer, trainable=False,
                                               autocast=False, aggregation="mean")
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
            moving_mean = ops.cast(self.moving_mean, "float32")
            moving_variance = ops.cast(self.moving_variance, "float32")
            self.moving_mean.assign(mom * moving_mean + (1.0 - mom) * mean)
            self.moving_variance.assign(mom * moving_variance + (1.0 - mom) * unbiased)
        else:
            mean = ops.cast(self.moving_mean, "float32")
            var = ops.cast(self.moving_variance, "float32")
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
    """Every batch-norm layer below ``model``: nested models and wrappers (``TimeDistributed``) included."""
    found = []
    children = list(getattr(model, "layers", []) or [])
    for layer in children:
        if isinstance(layer, (BatchNorm, keras.layers.BatchNormalization)):
            found.append(layer)
        else:
            inner = getattr(layer, "layer", None)
            if isinstance(inner, (BatchNorm, keras.layers.BatchNormalization)):
                found.append(inner)
            elif isinstance(inner, keras.layers.Layer):
                found.extend(_batchnorm_layers(inner))
            found.extend(_batchnorm_layers(layer))
    unique, seen = [], set()
    for layer in found:
        if id(layer) not in seen:
            seen.add(id(layer))
            unique.append(layer)
    return unique


def _is_array(a):
    """An array-like with a shape: numpy, a backend tensor, a torch tensor."""
    shape = getattr(a, "shape", None)
    return shape is not None and not callable(shape) and not isinstance(a, (str, bytes))


def _rows(a):
    shape = tuple(a.shape)
    return int(shape[0]) if shape and shape[0] is not None else None


def _is_arrays(x):
    """A whole data set: an array, a non-empty list/tuple of arrays or a dict of arrays."""
    if _is_array(x):
        return True
    if isinstance(x, dict):
        return bool(x) and all(_is_array(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return bool(x) and all(_is_array(v) for v in x)
    return False


_BN_DATA_EXPECTED = (
    "an array (or a list, tuple or dict of arrays) with at least one row, or an iterable of batches "
    "(a tf.data.Dataset, a torch DataLoader, a list of x or (x, y) batches)"
)


def _check_arrays(x, name, original):
    leaves = list(x.values()) if isinstance(x, dict) else list(x) if isinstance(x, (list, tuple)) else [x]
    rows = set()
    for a in leaves:
        if len(tuple(a.shape)) == 0 or _rows(a) == 0:
            raise invalid(name, original, _BN_DATA_EXPECTED + " (a 0-d or empty array has no rows)")
        if isinstance(a, np.ndarray) and not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise invalid(name, original, _BN_DATA_EXPECTED + f" (numbers, not an array of dtype {a.dtype})")
        rows.add(_rows(a))
    return rows


def validate_bn_data(bn_data, *, name="bn_data", reusable=False):
    """Check a data argument for :func:`estimate_batchnorm_statistics`; return it unchanged.

    For classes that keep such data for later (``kreg.callbacks.WeightAveraging(bn_data=...)``):
    calling this in their ``__init__`` rejects bad data before training starts instead of in
    ``on_train_end``. Accepted, as :func:`estimate_batchnorm_statistics` reads them:

    - an array with at least one row (numpy, a backend tensor), or a list, tuple or dict of them
      (a multi-input model's inputs, or ``(x, y)`` / ``[x, y]`` as passed to ``fit``);
    - an iterable of batches: a ``tf.data.Dataset``, a torch ``DataLoader``, a list of batches
      (each batch an array, a dict of arrays, or a list/tuple ``(x, y[, sample_weight])``), a
      generator.

    Only the container is checked here (the model is not known yet); shapes against the model's
    inputs are checked when the statistics are estimated.

    Args:
        bn_data: the value to check.
        name: the argument name used in the error message.
        reusable: also reject one-shot iterators and generators (they are empty after the first
            pass), for data used at every epoch.

    Returns:
        ``bn_data``, unchanged.

    Raises:
        ValueError: naming the argument and the value received, e.g.
            ``Invalid value received for argument `bn_data`. Expected an array ...
            Received: bn_data='x'``.

    >>> validate_bn_data(np.ones((4, 3))).shape
    (4, 3)
    """
    if bn_data is None or isinstance(bn_data, (str, bytes, bytearray, numbers.Number)):
        raise invalid(name, bn_data, _BN_DATA_EXPECTED)
    if _is_arrays(bn_data):
        rows = _check_arrays(bn_data, name, bn_data)
        if len(rows) > 1 and not isinstance(bn_data, (list, tuple)):
            raise invalid(name, bn_data, _BN_DATA_EXPECTED + f" (the arrays have different numbers of rows: {sorted(rows)})")
        return bn_data
    if isinstance(bn_data, dict):
        raise invalid(name, bn_data, _BN_DATA_EXPECTED + " (a dict needs array values)")
    if isinstance(bn_data, (list, tuple)):
        if not bn_data:
            raise invalid(name, bn_data, _BN_DATA_EXPECTED + " (it is empty)")
        head = bn_data[0]
        if (len(bn_data) in (2, 3) and isinstance(head, (list, tuple, dict)) and _is_arrays(head)
                and all(v is None or _is_array(v) for v in bn_data[1:])):
            _check_arrays(head, name, bn_data)  # (x, y[, sample_weight]) with a multi-input x
            return bn_data
        for batch in bn_data:  # a list of batches
            xb = batch
            if isinstance(batch, (list, tuple)):
                xb = batch[0] if batch else None
            if not _is_arrays(xb):
                raise invalid(name, bn_data, _BN_DATA_EXPECTED + f" (a batch holds no input arrays: {batch!r:.80})")
        return bn_data
    if not isinstance(bn_data, collections.abc.Iterable):
        raise invalid(name, bn_data, _BN_DATA_EXPECTED)
    if reusable and isinstance(bn_data, collections.abc.Iterator):
        raise invalid(
            name, bn_data,
            "a re-iterable source of batches (an array, a list of batches, a tf.data.Dataset, a torch "
            "DataLoader): an iterator or generator is exhausted after one pass",
        )
    return bn_data


def _num_inputs(model):
    try:
        return len(model.inputs) if model.inputs else None
    except (AttributeError, ValueError):
        return None


def _model_inputs(x, n_inputs):
    """The inputs in a batch or data set ``x``, unpacked as ``fit`` does (``(x, y, sample_weight)``).

    A list or tuple of arrays is the model's inputs when the model has that many inputs, and
    ``(x, y)`` / ``(x, y, sample_weight)`` (a torch ``DataLoader`` batch is a list ``[x, y]``)
    for a single-input model.
    """
    if isinstance(x, dict) or _is_array(x):
        return x
    if isinstance(x, (list, tuple)):
        if n_inputs is not None and n_inputs > 1 and len(x) == n_inputs and all(_is_array(a) for a in x):
            return list(x)
        if n_inputs is None and all(_is_array(a) for a in x) and len(x) > 1:
            return list(x)  # a model without known inputs: a list of arrays is its inputs, as in fit(x)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(tuple(x))
        if isinstance(x, tuple):
            x = list(x)
        return x
    return x


def _batches(x, batch_size, n_inputs):
    """Yield input batches from arrays (full batches, sliced) or an iterable of batches."""
    whole = _is_arrays(x) or (
        isinstance(x, (list, tuple)) and len(x) in (2, 3) and isinstance(x[0], (list, tuple, dict))
        and _is_arrays(x[0]) and all(v is None or _is_array(v) for v in x[1:])
    )
    if whole:
        inputs = _model_inputs(x, n_inputs)
        leaves = list(inputs.values()) if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else [inputs]
        rows = {_rows(a) for a in leaves}
        if len(rows) != 1:
            raise invalid("x", x, f"input arrays with the same number of rows (received {sorted(rows)})")
        n = rows.pop()
        stops = list(range(batch_size, n + 1, batch_size)) or [n]  # full batches only
        for stop in stops:
            start = stop - batch_size if stop >= batch_size else 0
            if isinstance(inputs, list):
                yield [np.asarray(a)[start:stop] for a in inputs]
            elif isinstance(inputs, dict):
                yield {k: np.asarray(v)[start:stop] for k, v in inputs.items()}
            else:
                yield np.asarray(inputs)[start:stop]
    else:
        for batch in x:
            yield _model_inputs(batch, n_inputs)


def _check_input_shapes(model, batch, x):
    """Compare a batch's arrays with the model's ``keras.Input`` shapes (where both are known)."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        return
    if isinstance(batch, dict) or not inputs:
        return
    arrays = batch if isinstance(batch, list) else [batch]
    if len(arrays) != len(inputs):
        raise invalid("x", x, f"{len(inputs)} input array(s), one per model input; got {len(arrays)}")
    for a, spec in zip(arrays, inputs):
        got, want = tuple(a.shape)[1:], tuple(spec.shape)[1:]
        if len(got) != len(want) or any(w is not None and g != w for g, w in zip(got, want)):
            raise invalid("x", x, f"input rows of shape {want} (the model's input {spec.name!r}); got {got}")


class _Recorder:
    """Stands in for a layer's ``call``: records the inputs it receives, then calls the layer.

    Installed as an instance attribute ``layer.call`` (Keras's ``Layer.__call__`` reads
    ``self.call``), removed by :func:`_restore`; nothing else about the layer changes.
    """

    def __init__(self, layer, order):
        self.layer = layer
        self.call = layer.call
        self.order = order
        self.inputs = []

    def __call__(self, inputs, *args, **kwargs):
        self.inputs.append(inputs)
        self.order.append(self.layer)
        return self.call(inputs, *args, **kwargs)


def _record(layers, order):
    recorders = []
    for layer in layers:
        rec = _Recorder(layer, order)
        object.__setattr__(layer, "call", rec)
        recorders.append(rec)
    return recorders


def _restore(layers):
    for layer in layers:
        if "call" in vars(layer):
            object.__delattr__(layer, "call")


def estimate_batchnorm_statistics(model, x, *, batch_size=32):
    r"""Algorithm 2 of Ioffe & Szegedy: population statistics for inference.

    For every batch-normalization layer of ``model`` (``kreg.layers.BatchNorm``
    and ``keras.layers.BatchNormalization``, in nested ``Sequential`` and
    functional models too), with the layer's input ``x`` over mini-batches
    ``B`` of ``m`` values per channel (batch size times every non-channel axis):

    .. math::

        E[x] \leftarrow E_B[\mu_B], \qquad
        Var[x] \leftarrow \frac{m}{m-1} E_B[\sigma_B^2],

    written into the layer's ``moving_mean`` and ``moving_variance``, so that
    inference computes ``y = gamma (x - E[x]) / sqrt(Var[x] + eps) + beta``.

    Layers are processed in the order the forward pass calls them; the inputs
    of layer ``k`` are those it receives when the whole model runs in
    inference mode with layers ``1..k-1`` already updated (dropout off), i.e.
    the statistics the inference network will see. They are read by running
    ``model(batch, training=False)`` with the layer's ``call`` temporarily
    wrapped to record its input, which reaches layers inside nested models
    (where a sub-model ``keras.Model(model.input, layer.input)`` is "not
    connected") and works for subclassed models too. A layer called more
    than once per pass (shared) is rejected: its statistics are ambiguous.
    Only full batches of ``batch_size`` rows are used when ``x`` is an array
    (all rows, as one batch, when there are fewer than ``batch_size``).

    Args:
        model: a built Keras model (functional, Sequential or subclassed).
        x: the inputs, read as ``fit`` reads them: an array (or a list/dict of
            arrays, for a multi-input model), ``(x, y)`` or ``[x, y]`` arrays
            (``y`` ignored), or any other iterable of batches, e.g. a
            ``tf.data.Dataset``, a torch ``DataLoader`` (its ``[x, y]`` list
            batches), a generator or a list of ``(x, y)`` tuples (a tuple or
            list batch ``(x, y[, sample_weight])`` uses its first element,
            except that a list of as many arrays as a multi-input model has
            inputs is that model's inputs). See :func:`validate_bn_data`.
        batch_size: int >= 2, rows per mini-batch (``m`` in Algorithm 2).

    Returns:
        int, the number of layers updated.

    Reference:
        Ioffe & Szegedy, ICML 2015, Algorithm 2. Lecture: deck 002,
        "Batch normalization at inference".
    """
    check_int("batch_size", batch_size, low=2)
    if not isinstance(model, keras.Model):
        raise invalid("model", model, "a keras.Model", exc=TypeError)
    validate_bn_data(x, name="x")
    layers = _batchnorm_layers(model)
    if not layers:
        return 0
    n_inputs = _num_inputs(model)
    first = next(iter(_batches(x, batch_size, n_inputs)), None)
    if first is None:
        raise ValueError("estimate_batchnorm_statistics received no data.")
    _check_input_shapes(model, first, x)
    # one pass with every layer recording: the order in which the forward pass calls them
    order = []
    recorders = _record(layers, order)
    try:
        model(first, training=False)
    except (ValueError, TypeError) as err:  # e.g. a wrong feature size: say which argument it came from
        raise invalid("x", x, f"inputs that the model accepts; calling it on the first batch raised: {err}") from err
    finally:
        _restore(layers)
    for rec in recorders:
        if len(rec.inputs) > 1:
            raise ValueError(
                f"Batch-norm layer {rec.layer.name!r} is called {len(rec.inputs)} times per forward pass "
                "(a shared layer): its population statistics are ambiguous."
            )
    del recorders, first
    for layer in order:  # layers the pass never calls are left alone
        axis = layer.axis
        if isinstance(axis, (list, tuple)):
            axis = axis[0]
        sums = sqs = None
        count = 0
        (rec,) = _record([layer], [])
        try:
            for xb in _batches(x, batch_size, n_inputs):
                rec.inputs.clear()
                model(xb, training=False)
                f = keras.ops.convert_to_numpy(rec.inputs[0]).astype("float64")
                ax = axis % f.ndim
                red = tuple(i for i in range(f.ndim) if i != ax)
                m = int(np.prod([f.shape[i] for i in red]))
                mu = f.mean(axis=red)
                var = f.var(axis=red) * m / max(m - 1, 1)
                sums = mu if sums is None else sums + mu
                sqs = var if sqs is None else sqs + var
                count += 1
        finally:
            _restore([layer])
        if count == 0:
            raise ValueError("estimate_batchnorm_statistics received no data.")
        layer.moving_mean.assign((sums / count).astype("float32"))
        layer.moving_variance.assign((sqs / count).astype("float32"))
    return len(order)

