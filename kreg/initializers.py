r"""PyTorch's default initialization of ``nn.Linear`` and ``nn.Conv*d``, as Keras initializers.

The STAT 453 notebooks build their networks from ``torch.nn.Linear`` (and
``nn.Conv2d``) and keep PyTorch's default initialization (deck L11,
"weight initialization"). ``reset_parameters`` draws

.. math::

    W_{ij} \sim U\!\left(-\frac{1}{\sqrt{n_\text{in}}}, \frac{1}{\sqrt{n_\text{in}}}\right),
    \qquad
    b_j \sim U\!\left(-\frac{1}{\sqrt{n_\text{in}}}, \frac{1}{\sqrt{n_\text{in}}}\right),

with ``n_in`` the fan-in (``in_features``; ``in_channels * kernel_height *
kernel_width`` for a convolution). The weights come from
``kaiming_uniform_(W, a=sqrt(5))``: He's bound is
``gain * sqrt(3 / n_in)`` with the leaky-ReLU gain
``sqrt(2 / (1 + a^2)) = sqrt(1/3)`` at ``a = sqrt(5)``, that is
``sqrt(1/3) * sqrt(3 / n_in) = 1 / sqrt(n_in)``. So
``Var[W] = 1 / (3 n_in)`` (He's ReLU initialization has ``2 / n_in``, six
times more), and ``Var[b] = 1 / (3 n_in)`` too.

Keras's ``Dense`` defaults differ: Glorot uniform kernels,
``U(±sqrt(6 / (n_in + n_out)))``, and zero biases. To reproduce a STAT 453
notebook, initialize as it does: ``kreg.models.mlp(..., init="torch")``, or
by hand::

    keras.layers.Dense(75, kernel_initializer=TorchLinearKernel(),
                       bias_initializer=TorchLinearBias(fan_in=784))

The kernel's fan-in is read from its shape exactly as Keras and PyTorch do
(``shape[0]`` of a ``(in, out)`` Dense kernel, ``prod(kernel_size) * in`` of
a ``(kh, kw, in, out)`` convolution kernel). A bias's shape ``(out,)`` does
not reveal the fan-in, so :class:`TorchLinearBias` takes it as an argument.

Both initializers are serializable (registered under ``kreg``) and take a
``seed`` as Keras's random initializers do: ``None`` (a new draw from the
global seed), an int (the same values at every call), or a
``keras.random.SeedGenerator``.
"""

from __future__ import annotations

import math
import numbers

import keras

from kreg._validation import check_int, invalid

__all__ = ["TorchLinearKernel", "TorchLinearBias"]


def _check_seed(seed):
    if seed is None or isinstance(seed, keras.random.SeedGenerator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise invalid("seed", seed, "None, an int or a keras.random.SeedGenerator", exc=TypeError)
    return int(seed)


@keras.saving.register_keras_serializable(package="kreg")
class TorchLinearKernel(keras.initializers.VarianceScaling):
    r"""PyTorch's default weight initialization: ``kaiming_uniform_(a=sqrt(5))``.

    .. math::

        W \sim U\!\left(-\frac{1}{\sqrt{n_\text{in}}}, \frac{1}{\sqrt{n_\text{in}}}\right),
        \qquad \operatorname{Var}[W] = \frac{1}{3 n_\text{in}},

    ``n_in`` the fan-in computed from the shape (``in`` of an ``(in, out)``
    kernel, ``kh * kw * in`` of a ``(kh, kw, in, out)`` convolution kernel):
    ``torch.nn.Linear`` and ``torch.nn.Conv*d``'s ``reset_parameters``. It
    is Keras's ``VarianceScaling(scale=1/3, mode="fan_in",
    distribution="uniform")``, whose bound is ``sqrt(3 * scale / n_in)``.

    Args:
        seed: ``None``, an int or a ``keras.random.SeedGenerator``, as for
            Keras's random initializers.

    Example:

    >>> w = TorchLinearKernel(seed=0)((784, 75))
    >>> tuple(w.shape)
    (784, 75)

    Reference:
        He et al., "Delving Deep into Rectifiers", ICCV 2015;
        ``torch.nn.Linear.reset_parameters``. Lecture: L11, weight
        initialization (the notebooks' PyTorch defaults).
    """

    def __init__(self, seed=None):
        seed = _check_seed(seed)
        super().__init__(scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed)

    def get_config(self):
        return {"seed": super().get_config()["seed"]}


@keras.saving.register_keras_serializable(package="kreg")
class TorchLinearBias(keras.initializers.RandomUniform):
    r"""PyTorch's default bias initialization: ``U(±1 / sqrt(fan_in))``.

    .. math::

        b \sim U\!\left(-\frac{1}{\sqrt{n_\text{in}}}, \frac{1}{\sqrt{n_\text{in}}}\right),
        \qquad \operatorname{Var}[b] = \frac{1}{3 n_\text{in}},

    as ``torch.nn.Linear`` and ``torch.nn.Conv*d``'s ``reset_parameters``
    draw it. A bias's shape ``(units,)`` does not reveal the layer's fan-in,
    so it is an argument: ``in_features`` of a Dense layer,
    ``in_channels * prod(kernel_size)`` of a convolution.

    Args:
        fan_in: int >= 1, the fan-in of the layer whose bias this is.
        seed: ``None``, an int or a ``keras.random.SeedGenerator``, as for
            Keras's random initializers.

    Example:

    >>> b = TorchLinearBias(fan_in=784, seed=0)((75,))
    >>> tuple(b.shape)
    (75,)

    Reference:
        ``torch.nn.Linear.reset_parameters``. Lecture: L11, weight
        initialization.
    """

    def __init__(self, fan_in, seed=None):
        fan_in = check_int("fan_in", fan_in, low=1)
        seed = _check_seed(seed)
        bound = 1.0 / math.sqrt(fan_in)
        super().__init__(minval=-bound, maxval=bound, seed=seed)
        self.fan_in = fan_in

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": super().get_config()["seed"]}

