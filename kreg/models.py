"""Builders for the lectures' architectures.

All builders return an *uncompiled* ``keras.Sequential`` whose first layer is
``keras.Input(input_shape)``, so the same code serves MNIST (28, 28, 1), the
embedded 8x8 digits and MNIST-1D (40,). Outputs are logits (no softmax):
compile with ``from_logits=True`` losses, as the STAT 453 notebooks do with
``F.cross_entropy``. ``compile_classifier`` does that for you.
"""

from __future__ import annotations

import keras

import math

from kreg._validation import check_bool, check_choice, check_float, check_int, invalid

__all__ = ["mlp", "cnn", "softmax_regression", "compile_classifier", "STAT453_HIDDEN", "INITS"]

#: The STAT 453 L10-L12 notebooks' MLP: 784-75-45-10 with ReLU.
STAT453_HIDDEN = (75, 45)

#: Values of the builders' ``init`` argument: ``"keras"`` (Keras's defaults: Glorot-uniform kernels,
#: zero biases) or ``"torch"`` (PyTorch's ``nn.Linear``/``nn.Conv2d`` defaults: kernels and biases
#: ``U(±1/sqrt(fan_in))``, see :mod:`kreg.initializers`), as the STAT 453 notebooks train.
INITS = ("keras", "torch")


def _is_positive_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _check_positive_ints(name, value, what, *, ranks=None):
    ok = isinstance(value, (tuple, list)) and len(value) > 0 and all(_is_positive_int(v) for v in value)
    if ok and ranks is not None and len(value) not in ranks:
        ok = False
    if not ok:
        raise invalid(name, value, what)
    return tuple(value)


def _check_input_shape(input_shape, ranks=None, what=None):
    what = what or "a tuple of positive integers, the shape of one example, e.g. (28, 28, 1)"
    return _check_positive_ints("input_shape", input_shape, what, ranks=ranks)


def _check_hidden(hidden):
    if isinstance(hidden, (tuple, list)) and len(hidden) == 0:
        return ()
    return _check_positive_ints("hidden", hidden, "a sequence of positive integers")


def _check_callable(name, value, what):
    if value is not None and not callable(value):
        raise invalid(name, value, what, exc=TypeError)
    return value


def _check_activation(activation):
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as err:
        raise invalid("activation", activation, "a Keras activation name or callable") from err
    return activation


def _init_kwargs(init, fan_in, bias=True):
    """Initializer arguments of one layer for ``init`` (empty for Keras's defaults)."""
    if init == "keras":
        return {}
    from kreg.initializers import TorchLinearBias, TorchLinearKernel

    kwargs = {"kernel_initializer": TorchLinearKernel()}
    if bias:
        kwargs["bias_initializer"] = TorchLinearBias(fan_in)
    return kwargs


def mlp(
    input_shape,
    num_classes=10,
    *,
    hidden=STAT453_HIDDEN,
    activation="relu",
    dropout=0.0,
    dropout_layer=None,
    batchnorm=False,
    kernel_initializer=None,
    kernel_regularizer=None,
    dense_layer=None,
    init="keras",
    activation_layers=False,
    name="mlp",
):
    """The STAT 453 multilayer perceptron: Flatten, (Dense, act, Dropout)*, Dense.

    Each hidden activation is the hidden ``Dense`` layer's ``activation``
    argument, :math:`h = \\phi(xW + b)`, the same function as deck 000's
    ``torch.nn.Linear`` followed by ``torch.nn.ReLU``. It gets a layer of its
    own (``keras.layers.Activation``) with ``activation_layers=True``, with
    ``batchnorm`` (the batch norm sits between the two) and with a
    ``dense_layer``. Why one layer by default: under Keras's PyTorch backend
    every layer call costs tens to hundreds of microseconds of Python
    (``benchmarks/torch_profile.py``). Folding the activation into the Dense
    layer made a PyTorch-backend train step of the STAT 453 MLP 0.90x as long
    at batch 256 (``benchmarks/layers.py``, row "MLP: activation in Dense /
    own Activation"), and a ``fit`` step 0.80x at batch 32; for
    ``l12_grad_clipping``'s 8x64 MLP it was 0.86x. The compiled JAX and
    TensorFlow steps are the same computation either way: 0.92-1.07x,
    within noise. Trained weights and outputs are the same (tested).

    Args:
        input_shape: shape of one example, e.g. ``(28, 28, 1)``.
        num_classes: units of the output layer (logits).
        hidden: hidden-layer widths; default ``(75, 45)`` as in STAT 453.
        activation: hidden activation.
        dropout: drop probability after each hidden activation (0 = none),
            as in deck 000's ``torch.nn.Dropout(drop_proba)`` placement.
        dropout_layer: callable ``rate -> layer`` replacing
            ``keras.layers.Dropout`` (e.g. ``kreg.layers.Dropout`` in vanilla
            mode).
        batchnorm: insert a batch-norm layer between each hidden Dense
            (then built with ``use_bias=False``) and its activation, as in
            the STAT 453 batchnorm notebook. ``True`` uses
            ``keras.layers.BatchNormalization``; a callable ``() -> layer``
            lets you pass ``kreg.layers.BatchNorm``.
        kernel_initializer: initializer for every Dense kernel (``None``:
            Glorot uniform, Keras's default). Only with ``init="keras"``.
        kernel_regularizer: regularizer for every Dense kernel.
        dense_layer: callable ``(units, **kwargs) -> layer`` replacing
            ``keras.layers.Dense`` for the hidden layers (e.g. DropConnect);
            with ``init="torch"`` it also receives ``bias_initializer``.
        activation_layers: give every hidden activation its own
            ``keras.layers.Activation`` layer (for code that reads the
            pre-activations :math:`z = xW + b` off the ``hidden_i`` layers,
            as ``lessons/l11_init.py`` does). Always so with ``batchnorm``
            or ``dense_layer``.
        init: ``"keras"`` (Keras's defaults: Glorot-uniform kernels, zero
            biases) or ``"torch"``, PyTorch's ``nn.Linear`` defaults that the
            STAT 453 notebooks train with: every kernel and bias
            ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in`` the layer's
            input width (:class:`kreg.initializers.TorchLinearKernel`,
            :class:`kreg.initializers.TorchLinearBias`).
        name: model name.
    """
    input_shape = _check_input_shape(input_shape)
    hidden = _check_hidden(hidden)
    num_classes = check_int("num_classes", num_classes, low=1)
    _check_activation(activation)
    dropout = check_float("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
    _check_callable("dropout_layer", dropout_layer, "None or a callable rate -> layer")
    _check_callable("dense_layer", dense_layer, "None or a callable (units, **kwargs) -> layer")
    if not isinstance(batchnorm, bool) and not callable(batchnorm):
        raise invalid("batchnorm", batchnorm, "a bool or a callable () -> layer", exc=TypeError)
    init = check_choice("init", init, INITS)
    separate = check_bool("activation_layers", activation_layers) or bool(batchnorm) or dense_layer is not None
    if init == "torch" and kernel_initializer is not None:
        raise invalid("kernel_initializer", kernel_initializer,
                      "None with init='torch' (init sets the kernel and bias initializers)")
    if kernel_initializer is None and init == "keras":
        kernel_initializer = "glorot_uniform"
    dense = dense_layer or keras.layers.Dense
    drop = dropout_layer or (lambda rate: keras.layers.Dropout(rate))
    layers = [keras.Input(input_shape), keras.layers.Flatten()]
    fan_in = math.prod(input_shape)
    for i, units in enumerate(hidden):
        kwargs = _init_kwargs(init, fan_in, bias=not batchnorm) or {"kernel_initializer": kernel_initializer}
        layers.append(
            dense(
                units,
                use_bias=not batchnorm,
                kernel_regularizer=kernel_regularizer,
                name=f"hidden_{i + 1}",
                **kwargs,
                **({} if separate else {"activation": activation}),
            )
        )
        fan_in = units
        if batchnorm:
            layers.append(keras.layers.BatchNormalization() if batchnorm is True else batchnorm())
        if separate:
            layers.append(keras.layers.Activation(activation))
        if dropout > 0:
            layers.append(drop(dropout))
    layers.append(
        keras.layers.Dense(
            num_classes,
            kernel_regularizer=kernel_regularizer,
            name="logits",
            **(_init_kwargs(init, fan_in) or {"kernel_initializer": kernel_initializer}),
        )
    )
    return keras.Sequential(layers, name=name)


def softmax_regression(input_shape, num_classes=10, *, kernel_regularizer=None, init="keras",
                       name="softmax_regression"):
    """Multinomial logistic (softmax) regression: Flatten then one Dense (logits).

    Args:
        input_shape: shape of one example, e.g. ``(28, 28, 1)``.
        num_classes: units of the output layer (logits).
        kernel_regularizer: regularizer of the kernel.
        init: ``"keras"`` (Glorot-uniform kernel, zero bias) or ``"torch"``
            (``torch.nn.Linear``'s default, ``U(±1/sqrt(fan_in))`` for the
            kernel and the bias; see :func:`mlp`).
        name: model name.
    """
    input_shape = _check_input_shape(input_shape)
    num_classes = check_int("num_classes", num_classes, low=1)
    init = check_choice("init", init, INITS)
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes, kernel_regularizer=kernel_regularizer, name="logits",
                               **_init_kwargs(init, math.prod(input_shape))),
        ],
        name=name,
    )


def cnn(
    input_shape,
    num_classes=10,
    *,
    filters=(16, 32),
    norm=None,
    dropout=0.0,
    kernel_regularizer=None,
    init="keras",
    name="cnn",
):
    """A small CNN: (Conv3x3, [norm], ReLU, MaxPool2)* then GlobalAveragePool and Dense.

    Pooling is skipped once the feature map is smaller than 8 pixels, so the
    same builder works on 28x28 MNIST and 8x8 digits.

    Args:
        input_shape: ``(height, width)`` or ``(height, width, channels)``.
        num_classes: units of the output layer (logits).
        filters: a non-empty sequence of positive integers, the channels of
            each convolution.
        norm: ``None`` or a callable ``() -> layer`` inserted after each
            convolution (then built without bias), e.g.
            ``lambda: kreg.layers.GroupNorm(4)``.
        dropout: drop probability before the output layer (0 = none).
        kernel_regularizer: regularizer of every kernel.
        init: ``"keras"`` (Glorot-uniform kernels, zero biases) or
            ``"torch"`` (``torch.nn.Conv2d``/``nn.Linear`` defaults:
            ``U(±1/sqrt(fan_in))``, ``fan_in = 9 * in_channels`` for a 3x3
            convolution; see :func:`mlp`).
        name: model name.
    """
    input_shape = _check_input_shape(
        input_shape, ranks=(2, 3), what="(height, width) or (height, width, channels), positive integers")
    num_classes = check_int("num_classes", num_classes, low=1)
    filters = _check_positive_ints("filters", filters, "a non-empty sequence of positive integers (channels per convolution)")
    _check_callable("norm", norm, "None or a callable () -> layer")
    dropout = check_float("dropout", dropout, low=0.0, high=1.0, high_inclusive=False)
    init = check_choice("init", init, INITS)
    if len(input_shape) == 2:
        input_shape = (*input_shape, 1)
    layers = [keras.Input(tuple(input_shape))]
    size = min(input_shape[0], input_shape[1])
    channels = input_shape[-1]
    for i, f in enumerate(filters):
        layers.append(keras.layers.Conv2D(f, 3, padding="same", use_bias=norm is None,
                                          kernel_regularizer=kernel_regularizer, name=f"conv_{i + 1}",
                                          **_init_kwargs(init, 9 * channels, bias=norm is None)))
        channels = f
        if norm is not None:
            layers.append(norm())
        layers.append(keras.layers.Activation("relu"))
        if size >= 8:
            layers.append(keras.layers.MaxPooling2D(2))
            size //= 2
    layers.append(keras.layers.GlobalAveragePooling2D())
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes, kernel_regularizer=kernel_regularizer, name="logits",
                                     **_init_kwargs(init, channels)))
    return keras.Sequential(layers, name=name)


def compile_classifier(model, optimizer="sgd", *, learning_rate=0.1, label_smoothing=0.0, **compile_kwargs):
    """Compile ``model`` (logits) with cross-entropy and accuracy.

    ``optimizer`` is a Keras optimizer instance or ``"sgd"`` (plain SGD with
    ``learning_rate``, as in STAT 453). Labels are integer classes; with
    ``label_smoothing > 0`` the one-hot loss is used (Keras's sparse loss has
    no smoothing), so pass one-hot labels then.

    Args:
        model: the ``keras.Model`` to compile (in place; also returned).
        optimizer: ``"sgd"`` or a ``keras.optimizers.Optimizer`` instance.
        learning_rate: float > 0, the learning rate of ``"sgd"``.
        label_smoothing: float in [0, 1].
        **compile_kwargs: passed to ``model.compile``.
    """
    if not isinstance(model, keras.Model):
        raise invalid("model", model, "a keras.Model", exc=TypeError)
    label_smoothing = check_float("label_smoothing", label_smoothing, low=0.0, high=1.0)
    if isinstance(optimizer, str):
        if optimizer != "sgd":
            raise invalid("optimizer", optimizer, "'sgd' or a keras.optimizers.Optimizer instance")
        learning_rate = check_float("learning_rate", learning_rate, low=0.0, low_inclusive=False)
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    elif not isinstance(optimizer, keras.optimizers.Optimizer):
        raise invalid("optimizer", optimizer, "'sgd' or a keras.optimizers.Optimizer instance", exc=TypeError)
    if label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **compile_kwargs)
    return model


# --------------------------------------------------------------------------
# Width sweeps (l10_double_descent): many one-hidden-layer MLPs trained at once


@keras.saving.register_keras_serializable(package="kreg")
class ParallelMLPs(keras.layers.Layer):
    """Independent one-hidden-layer MLPs of several widths, evaluated side by side.

    Member ``j`` is ``Dense(widths[j], activation) -> Dense(num_classes)`` on
    the (flattened) input; nothing is shared between members. The hidden
    layers of all members are one matmul with ``sum(widths)`` units; the
    output layer is one matmul with a block-diagonal kernel (member ``j``
    reads only its own hidden units), so a width sweep costs one model's
    per-step overhead instead of ``len(widths)``. Each block is initialized
    as a stand-alone ``keras.layers.Dense`` would be (Glorot uniform with
    that block's fan-in and fan-out, zero biases).

    Training with a loss that is a mean of per-member losses (e.g. sparse
    cross-entropy on integer labels tiled to ``(batch, len(widths))``)
    gives every member exactly the gradient it would get alone, scaled by
    ``1 / len(widths)``; Adam (and any per-parameter optimizer without
    global clipping or weight decay) is invariant to that scale up to its
    ``epsilon``, so the members train as if they were trained one by one on
    the same mini-batches.

    Args:
        widths: hidden widths, positive integers.
        num_classes: outputs per member (logits).
        activation: hidden activation.

    Input shape: ``(batch, features)``.
    Output shape: ``(batch, len(widths), num_classes)``.

    >>> layer = ParallelMLPs([2, 8], num_classes=3)
    >>> layer(keras.ops.ones((4, 5))).shape
    (4, 2, 3)
    """

    def __init__(self, widths, num_classes=10, activation="relu", **kwargs):
        super().__init__(**kwargs)
        if isinstance(widths, int) or not widths or not all(
                isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
            raise invalid("widths", widths, "a non-empty sequence of positive integers")
        self.widths = list(widths)
        self.num_classes = check_int("num_classes", num_classes, low=1)
        self.activation = _check_activation(activation)
        self._act = keras.activations.get(activation)

    def build(self, input_shape):
        import numpy as np

        din, k, m = int(input_shape[-1]), self.num_classes, len(self.widths)
        total = sum(self.widths)

        # Glorot uniform per block, U(-limit_j, limit_j) with limit_j = sqrt(6 / (fan_in_j + fan_out_j)),
        # drawn in one call (one random op to compile, not one per block)
        fan = np.repeat(np.asarray(self.widths, "float32"), self.widths)  # width of each unit's member
        hidden_limit = np.sqrt(6.0 / (din + fan))[None, :]  # (1, total): fan_in din, fan_out w_j
        output_limit = np.sqrt(6.0 / (fan + k))[:, None]  # (total, 1): fan_in w_j, fan_out k

        def scaled_uniform(limit):
            def init(shape, dtype=None):
                return keras.random.uniform(shape, -1.0, 1.0, dtype=dtype) * keras.ops.convert_to_tensor(
                    limit, dtype=dtype)
            return init

        self.hidden_kernel = self.add_weight(shape=(din, total), name="hidden_kernel",
                                             initializer=scaled_uniform(hidden_limit))
        self.hidden_bias = self.add_weight(shape=(total,), name="hidden_bias", initializer="zeros")
        # compact output kernel: row u holds the k output weights of hidden unit u
        self.output_kernel = self.add_weight(shape=(total, k), name="output_kernel",
                                             initializer=scaled_uniform(output_limit))
        self.output_bias = self.add_weight(shape=(m, k), name="output_bias", initializer="zeros")
        member = np.repeat(np.arange(m), self.widths)
        self._mask = np.eye(m, dtype="float32")[member]  # (total, m): unit u belongs to member j

    def call(self, inputs):
        h = self._act(keras.ops.matmul(inputs, self.hidden_kernel) + self.hidden_bias)
        mask = keras.ops.convert_to_tensor(self._mask, dtype=h.dtype)
        m, k = len(self.widths), self.num_classes
        block_diagonal = keras.ops.reshape(mask[:, :, None] * self.output_kernel[:, None, :], (-1, m * k))
        z = keras.ops.matmul(h, block_diagonal)
        return keras.ops.reshape(z, (-1, m, k)) + self.output_bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.widths), self.num_classes)

    def member_weights(self, j):
        """``[W1, b1, W2, b2]`` of member ``j`` as numpy arrays (a stand-alone MLP's weights)."""
        start = sum(self.widths[:j])
        sl = slice(start, start + self.widths[j])
        to_np = keras.ops.convert_to_numpy
        return [to_np(self.hidden_kernel)[:, sl], to_np(self.hidden_bias)[sl],
                to_np(self.output_kernel)[sl], to_np(self.output_bias)[j]]

    def get_config(self):
        return super().get_config() | {"widths": list(self.widths), "num_classes": self.num_classes,
                                       "activation": self.activation}


def width_sweep_mlp(input_shape, num_classes=10, *, widths, activation="relu", name="width_sweep"):
    """One model holding an independent one-hidden-layer MLP per width (see :class:`ParallelMLPs`).

    Output: logits of shape ``(batch, len(widths), num_classes)``. Fit it on
    labels tiled to ``(batch, len(widths))`` with a from-logits sparse
    cross-entropy and Adam: each member trains as it would alone.
    """
    input_shape = _check_input_shape(input_shape)
    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                             ParallelMLPs(widths, num_classes, activation, name="members")], name=name)


__all__ += ["ParallelMLPs", "width_sweep_mlp"]
