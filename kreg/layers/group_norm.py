"""Group normalization (Wu & He 2018)."""

from __future__ import annotations

import keras
from keras import ops

from kreg._validation import check_bool, check_float, check_int, invalid

__all__ = ["GroupNorm"]

# False forces the generic path everywhere (the tests compare the two paths with it).
_FUSED = True


@keras.saving.register_keras_serializable(package="kreg")
class GroupNorm(keras.layers.Layer):
    r"""Group normalization: per example, normalize groups of channels.

    The ``C`` channels are split into ``G`` groups of ``C/G`` consecutive
    channels. For each example ``n`` and group ``g``, with ``S_{n,g}`` the set of
    its values (all spatial positions, all channels of the group):

    .. math::

        \mu_{n,g} = \frac{1}{|S|}\sum_{i\in S} x_i, \quad
        \sigma_{n,g}^2 = \frac{1}{|S|}\sum_{i\in S}(x_i-\mu_{n,g})^2, \quad
        y_i = \gamma_c \frac{x_i - \mu_{n,g}}{\sqrt{\sigma^2_{n,g} + \epsilon}} + \beta_c

    with per-channel ``gamma`` and ``beta``. Nothing depends on the batch, so
    training and inference compute the same thing and batch size 1 works.
    ``groups=1`` is layer normalization over (H, W, C); ``groups=C`` (or
    ``groups=-1``, one group per channel, resolved in ``build``) is instance
    normalization. Matches ``torch.nn.GroupNorm`` (biased variance).

    How it runs. Statistics and normalization are computed in float32 and the
    result is cast to the layer's compute dtype (under ``mixed_float16`` /
    ``mixed_bfloat16`` too: a float16 sum of squares overflows). Two paths
    give the same numbers to float32 rounding:

    - Under the PyTorch backend, inputs with spatial axes (rank >= 3) run the
      fused ``torch.nn.functional.group_norm`` (one kernel forward, one
      backward): the generic ops measured 7-14x of it on a CNN activation.
      A channels-last input ``(N, ..., C)`` reaches it as a channels-last
      *view* ``(N, C, S, 1)`` (no transpose copy). 2-D inputs ``(N, C)``
      take the generic path: their groups are a few values and the kernel's
      per-group threading costs more than the few generic ops.
    - Everywhere else, the generic ``keras.ops`` path: the channel axis is
      split in place into ``(G, C/G)`` (a reshape, no transpose, for any
      ``axis``), the moments are taken in two passes (no
      :math:`E[x^2]-E[x]^2` cancellation) with no gradient through the mean
      inside the variance (the same gradient, one reduction fewer), and on
      inputs with spatial axes the normalization and the affine map fold
      into one multiply-add per element,
      :math:`y = x\,a + b` with :math:`a = \gamma/\sqrt{\sigma^2+\epsilon}`
      and :math:`b = \beta - \mu a` computed on the small ``(N, G, C/G)``
      statistics, as Keras's ``GroupNormalization`` does. Under JAX and
      TensorFlow ``model.fit`` compiles this (XLA) into a few fused loops.

    Args:
        groups: int >= 1, or -1 for one group per channel. The channel count
            must be divisible by it (checked in ``build``).
        axis: int, the channel axis (``-1`` channels-last, ``1`` channels-first).
        epsilon: float > 0 added to the variance (torch's default 1e-5).
        center: bool, learn the offset ``beta``.
        scale: bool, learn the scale ``gamma``.
        beta_initializer, gamma_initializer: initializers.
        beta_regularizer, gamma_regularizer: optional regularizers.
        beta_constraint, gamma_constraint: optional constraints.

    Call arguments:
        inputs: a tensor of rank >= 2 (batch first).
        training: unused (same rule in training and inference).

    Input shape:
        Arbitrary, rank >= 2, e.g. ``(B, C)``, ``(B, L, C)``, ``(B, H, W, C)``.

    Output shape:
        Same as the input.

    Example:

    >>> layer = GroupNorm(groups=2)
    >>> tuple(layer(keras.ops.ones((1, 4, 4, 6))).shape)
    (1, 4, 4, 6)

    Reference:
        Wu & He, "Group Normalization", ECCV 2018. Lecture: deck 002,
        "Group normalization" (batch/layer/instance/group norm figure).
    """

    def __init__(
        self,
        groups,
        axis=-1,
        epsilon=1e-5,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int("groups", groups)
        if groups != -1 and groups < 1:
            raise invalid("groups", groups, "a positive integer, or -1 for one group per channel")
        check_int("axis", axis)
        check_float("epsilon", epsilon, low=0.0, low_inclusive=False)
        check_bool("center", center)
        check_bool("scale", scale)
        self.groups = groups
        self.axis = axis
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.beta_regularizer = keras.regularizers.get(beta_regularizer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.beta_constraint = keras.constraints.get(beta_constraint)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        rank = len(input_shape)
        axis = self.axis if self.axis >= 0 else rank + self.axis
        if rank < 2 or not 0 < axis < rank:
            raise invalid("axis", self.axis, f"a non-batch axis of an input of rank {rank}")
        channels = input_shape[axis]
        if channels is None:
            raise ValueError(f"GroupNorm needs a known channel dimension on axis {self.axis}. Received: input_shape={input_shape}")
        groups = channels if self.groups == -1 else self.groups
        if channels % groups:
            raise invalid(
                "groups", self.groups,
                f"a divisor of the number of channels: the number of channels ({channels}) must be "
                f"divisible by the number of groups ({groups}); input_shape={input_shape}",
            )
        self._axis = axis
        self._groups = groups  # resolved; self.groups keeps what was passed
        self._channels = channels
        self.gamma = (
            self.add_weight(shape=(channels,), name="gamma", initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
            if self.scale else None
        )
        self.beta = (
            self.add_weight(shape=(channels,), name="beta", initializer=self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint)
            if self.center else None
        )

    def call(self, inputs, training=False):
        # torch's fused kernel where it pays: inputs with spatial axes. On a 2-D (N, C) input each group is a
        # few values and the kernel's per-group threading costs more than the generic path's few ops.
        if _FUSED and len(inputs.shape) > 2 and keras.backend.backend() == "torch":
            return self._call_torch(inputs)
        return self._call_generic(inputs)

    def _scale_shift_shape(self, rank):
        """Broadcast shape of per-channel parameters in the grouped layout."""
        shape = [1] * (rank + 1)
        shape[self._axis] = self._groups
        shape[self._axis + 1] = self._channels // self._groups
        return shape

    def _call_generic(self, inputs):
        """The backend-agnostic path: ``keras.ops`` on the input split into groups.

        The channel axis is split in place into ``(G, C/G)`` (a reshape, no
        transpose, whatever the axis), the moments are taken over every axis
        but the batch and group axes in float32, and (inputs with spatial
        axes) the normalization and the affine map are folded into one
        multiply-add per element: ``y = x * a + b`` with
        ``a = gamma / sqrt(var + eps)`` and ``b = beta - mean * a``, computed
        on the small ``(N, G, C/G)`` tensors.
        """
        dtype = inputs.dtype
        x = ops.cast(inputs, "float32")
        rank = len(x.shape)
        axis, g, c = self._axis, self._groups, self._channels
        shape = ops.shape(x)
        grouped_shape = tuple(shape[:axis]) + (g, c // g) + tuple(shape[axis + 1:])
        grouped = ops.reshape(x, grouped_shape)
        axes = tuple(i for i in range(1, rank + 1) if i != axis)
        param_shape = self._scale_shift_shape(rank)
        gamma = ops.reshape(ops.cast(self.gamma, "float32"), param_shape) if self.gamma is not None else None
        beta = ops.reshape(ops.cast(self.beta, "float32"), param_shape) if self.beta is not None else None
        # two passes, as Keras's TensorFlow moments: no E[x^2] - E[x]^2 cancellation; the stop_gradient changes
        # no gradient (d var / d mean is 0) but spares the backward pass a reduction (JAX: 0.65-0.7x the time)
        mean = ops.mean(grouped, axis=axes, keepdims=True)
        var = ops.mean(ops.square(grouped - ops.stop_gradient(mean)), axis=axes, keepdims=True)
        inv = ops.rsqrt(var + self.epsilon)
        if gamma is not None:
            inv = inv * gamma
        if rank == 2:
            # (N, C): groups of a few values, where x * a + (beta - mean * a) would leave rounding noise
            # (a group of one value must give exactly beta); the tensor is small, the extra pass is cheap
            y = (grouped - mean) * inv
            if beta is not None:
                y = y + beta
        else:
            shift = -mean * inv
            if beta is not None:
                shift = shift + beta
            y = grouped * inv + shift
        y = ops.reshape(y, shape)
        return ops.cast(y, dtype)

    def _call_torch(self, inputs):
        """PyTorch's fused ``torch.nn.functional.group_norm``: the same math, one kernel.

        torch's kernel groups consecutive channels and uses the biased
        variance, as the generic path does, and wants the channels on axis 1.
        Like the generic path it computes in float32 (input, gamma and beta
        cast) and casts back, so mixed precision gives the same numbers on
        both paths. A channels-last input ``(N, ..., C)`` is viewed as
        ``(N, S, 1, C)`` and permuted to ``(N, C, S, 1)``: no copy, since that
        view is a channels-last 4-D tensor, which torch normalizes in place of
        layout; the result is permuted back into a contiguous ``(N, ..., C)``.

        One exception: torch 2.13's CPU channels-last backward writes the
        input gradient through a null pointer when only gamma/beta need a
        gradient and the spatial size is under 2048 (``impl-1`` of
        ``GroupNormBackwardKernelImplChannelsLastInternal`` does not check
        that ``dX`` is defined). That killed the process (segmentation fault)
        with GroupNorm as a model's first layer, under any dtype policy. An
        input that needs no gradient is therefore copied into the contiguous
        channels-first layout, whose kernel checks.
        """
        import torch

        dtype = inputs.dtype
        x = ops.cast(inputs, "float32")
        gamma = ops.cast(self.gamma, "float32") if self.gamma is not None else None
        beta = ops.cast(self.beta, "float32") if self.beta is not None else None
        rank, axis = len(x.shape), self._axis
        if axis == rank - 1:  # (N, ..., C) -> (N, C, S, 1), a channels-last view
            x_cf = x.reshape(x.shape[0], -1, 1, x.shape[-1]).permute(0, 3, 1, 2)
        else:
            x_cf = torch.movedim(x, axis, 1) if axis != 1 else x
        if torch.is_grad_enabled() and not x_cf.requires_grad and not x_cf.is_contiguous():
            x_cf = x_cf.contiguous()  # see above: the channels-last backward without dX crashes
        y = torch.nn.functional.group_norm(x_cf, self._groups, gamma, beta, self.epsilon)
        if axis == rank - 1:
            y = y.permute(0, 2, 3, 1).reshape(x.shape)
        elif axis != 1:
            y = torch.movedim(y, 1, axis)
        return ops.cast(y, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        s = keras.saving.serialize_keras_object
        config.update(
            groups=self.groups,
            axis=self.axis,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=s(self.beta_initializer),
            gamma_initializer=s(self.gamma_initializer),
            beta_regularizer=s(self.beta_regularizer),
            gamma_regularizer=s(self.gamma_regularizer),
            beta_constraint=s(self.beta_constraint),
            gamma_constraint=s(self.gamma_constraint),
        )
        return config
