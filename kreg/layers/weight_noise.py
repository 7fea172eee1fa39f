"""Gaussian noise on the weights of a Dense or convolution layer."""

from __future__ import annotations

import keras
from keras import ops

from kreg._validation import check_bool, check_float, check_int, invalid

__all__ = ["WeightNoise"]

_SUPPORTED = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)


@keras.saving.register_keras_serializable(package="kreg")
class WeightNoise(keras.layers.Wrapper):
    r"""Adds Gaussian noise to a wrapped layer's weights during training.

    At every training call a fresh perturbation is drawn and the wrapped
    layer is evaluated with the noisy weights (deck 002, "Add noise to the
    weights"):

    .. math::

        \epsilon \sim \mathcal N(0, \sigma^2 I), \quad W' = W + \epsilon,
        \quad y = f_{W'}(x),

    optionally also ``b' = b + \epsilon_b``. Inference uses the clean weights,
    ``y = f_W(x)``, exactly the wrapped layer's output. Gradients flow to the
    clean ``W`` through ``W' = W + epsilon``. For a linear Dense unit
    ``y_j = sum_i x_i W'_ij + b_j``, ``Var[y_j] = sigma^2 ||x||^2`` (plus
    ``sigma^2`` with ``noise_bias=True``); for a squared loss this adds, to
    second order, a penalty ``sigma^2 ||x||^2`` per output, the deck's link
    to weight decay. One perturbation is shared by the whole batch (a
    per-example draw would cost ``B x |W|`` memory).

    How it works: the wrapper does not swap or mutate the inner layer's
    variables (that breaks under JAX's stateless, jit-compiled training
    step). It recomputes the wrapped op with ``keras.ops`` from the inner
    layer's own variables and hyper-parameters: ``matmul`` for ``Dense``,
    ``ops.conv`` with the layer's strides, padding (causal included),
    dilation and data format for ``Conv1D``/``Conv2D``, then bias and
    activation. Hence only those three layer types (and subclasses that keep
    their ``call``) are accepted; LoRA-enabled or quantized layers are not.

    Args:
        layer: a ``keras.layers.Dense``, ``Conv1D`` or ``Conv2D`` instance.
        stddev: float >= 0, standard deviation ``sigma`` of the weight noise
            (any non-negative value, unlike ``keras.layers.GaussianNoise``).
        noise_bias: bool, also perturb the bias.
        seed: optional int, seed of the layer's ``SeedGenerator``.

    Call arguments:
        inputs: the wrapped layer's input.
        training: bool; noisy weights when True, clean weights otherwise.

    Input shape:
        That of the wrapped layer.

    Output shape:
        That of the wrapped layer.

    Example:

    >>> layer = WeightNoise(keras.layers.Dense(4), stddev=0.1, seed=0)
    >>> tuple(layer(keras.ops.ones((2, 3)), training=True).shape)
    (2, 4)

    Reference:
        Graves, "Practical Variational Inference for Neural Networks", NIPS
        2011; An, "The Effects of Adding Noise During Backpropagation Training
        on a Generalization Performance", Neural Computation 1996. Lecture:
        deck 002, "Add noise to the weights"; deck 004.
    """

    def __init__(self, layer, stddev=0.01, noise_bias=False, seed=None, **kwargs):
        if not isinstance(layer, _SUPPORTED):
            raise invalid("layer", layer, "a keras.layers.Dense, Conv1D or Conv2D instance")
        check_float("stddev", stddev, low=0.0)
        check_bool("noise_bias", noise_bias)
        check_int("seed", seed, allow_none=True)
        super().__init__(layer, **kwargs)
        self.stddev = stddev
        self.noise_bias = noise_bias
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        super().build(input_shape)
        if getattr(self.layer, "lora_enabled", False) or getattr(self.layer, "quantization_mode", None):
            raise ValueError(
                "WeightNoise does not support LoRA-enabled or quantized layers. "
                f"Received: layer={self.layer.name}"
            )
        self.built = True

    def _noisy(self, w):
        w = ops.cast(w, self.compute_dtype)
        return w + keras.random.normal(ops.shape(w), stddev=self.stddev, dtype=w.dtype, seed=self.seed_generator)

    def call(self, inputs, training=False):
        layer = self.layer
        kernel = ops.cast(layer.kernel, self.compute_dtype)
        bias = ops.cast(layer.bias, self.compute_dtype) if layer.use_bias else None
        if training and self.stddev > 0:
            kernel = self._noisy(kernel)
            if bias is not None and self.noise_bias:
                bias = self._noisy(bias)
        if isinstance(layer, keras.layers.Dense):
            y = ops.matmul(inputs, kernel)
            if bias is not None:
                y = y + bias
        else:
            padding = layer.padding
            if padding == "causal":
                left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
                pads = [[0, 0], [left, 0], [0, 0]]
                if layer.data_format == "channels_first":
                    pads = [[0, 0], [0, 0], [left, 0]]
                inputs = ops.pad(inputs, pads)
                padding = "valid"
            y = ops.conv(
                inputs, kernel, strides=list(layer.strides), padding=padding,
                dilation_rate=layer.dilation_rate, data_format=layer.data_format,
            )
            if bias is not None:
                rank = len(y.shape)
                if layer.data_format == "channels_last":
                    y = y + bias
                else:
                    y = y + ops.reshape(bias, (1, -1) + (1,) * (rank - 2))
        if layer.activation is not None:
            y = layer.activation(y)
        return y

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        # The inner layer's build state is restored by the wrapper's own
        # build; dropping it keeps get_config() identical before/after build.
        inner = dict(config["layer"])
        inner.pop("build_config", None)
        inner.pop("compile_config", None)
        config["layer"] = inner
        config.update(stddev=self.stddev, noise_bias=self.noise_bias, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)  # keras.layers.Wrapper.from_config pops "layer"
        layer = keras.saving.deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
