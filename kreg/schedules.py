"""Learning-rate schedules of the lectures (deck 001, "Learning Rate Scheduling").

Every schedule is a ``keras.optimizers.schedules.LearningRateSchedule``: the
optimizer calls it with its step counter ``optimizer.iterations`` (the number
of optimizer steps taken so far, starting at 0) inside the compiled train
step, so the schedules are written with ``keras.ops`` and run on TensorFlow,
JAX and PyTorch.

Schedules that are defined per *epoch* (like PyTorch's ``StepLR``, whose
``scheduler.step()`` is called once per epoch) convert the step counter to the
epoch index ``e = floor(step / steps_per_epoch)`` and therefore need
``steps_per_epoch`` (``ceil(num_samples / batch_size)`` in ``model.fit``). The
learning rate is then constant within an epoch, exactly as with PyTorch.

- :class:`ExponentialDecay`: ``eta(n) = eta0 / gamma ** (n / N)`` (deck 001,
  "Exponential Scheduling"), counted in epochs or steps.
- :class:`StepDecay`: PyTorch's ``StepLR``, ``eta0 * gamma ** floor(e / step_size)``.
- :class:`PiecewiseConstant`: "set eta = 0.1, then at the 50th epoch set
  eta = 0.0001", by epoch.
- :class:`Scaled`: ``scale * schedule(step)`` with ``scale`` a variable; this is
  what :class:`kreg.callbacks.ReduceLROnPlateau` lowers on a plateau when the
  optimizer's learning rate is a schedule.
"""

from __future__ import annotations

import keras
from keras import ops

from kreg._validation import check_choice, check_float, check_int, check_bool, invalid

__all__ = ["ExponentialDecay", "StepDecay", "PiecewiseConstant", "Scaled"]

_Schedule = keras.optimizers.schedules.LearningRateSchedule


def _epoch_of(step, steps_per_epoch):
    """Epoch index ``floor(step / steps_per_epoch)`` as a float32 tensor."""
    step = ops.cast(step, "float32")
    return ops.floor(step / float(steps_per_epoch))


@keras.saving.register_keras_serializable(package="kreg")
class ExponentialDecay(_Schedule):
    r"""Exponential scheduling in the form of deck 001: divide by ``gamma`` every ``period``.

    .. math::

        \eta(n) = \frac{\eta_0}{\gamma^{n / N}}
        \qquad (\text{staircase: } \eta_0 / \gamma^{\lfloor n / N \rfloor})

    where ``n`` counts epochs (``unit="epoch"``, the slide's choice; needs
    ``steps_per_epoch``, and ``n = floor(step / steps_per_epoch)`` is the epoch
    index so the rate is constant within an epoch) or optimizer steps
    (``unit="step"``). With ``gamma = 10`` the rate drops by a factor of 10
    every ``N`` epochs.

    PyTorch defines its gamma as ``1 / gamma``: ``torch.optim.lr_scheduler.
    ExponentialLR(opt, gamma=g)`` is ``ExponentialDecay(eta0, gamma=1/g,
    period=1, steps_per_epoch=...)``, and ``StepLR(opt, step_size=s,
    gamma=g)`` is ``ExponentialDecay(eta0, gamma=1/g, period=s,
    staircase=True, steps_per_epoch=...)``. Keras's
    ``keras.optimizers.schedules.ExponentialDecay(eta0, decay_steps=N,
    decay_rate=r)`` counts steps and is ``ExponentialDecay(eta0, gamma=1/r,
    period=N, unit="step")``.

    Args:
        initial_learning_rate: ``eta0 > 0``.
        gamma: the factor the rate is divided by every ``period``; ``>= 1``
            (``gamma < 1`` would make the rate grow: you probably meant
            PyTorch's convention, use ``1 / gamma``).
        period: ``N``, in units of ``unit``; a positive int.
        unit: ``"epoch"`` (default) or ``"step"``.
        steps_per_epoch: optimizer steps per epoch; required when
            ``unit="epoch"``.
        staircase: use ``floor(n / N)``, i.e. drop the rate in discrete steps.
        name: optional name.

    Example:

    >>> lr = ExponentialDecay(0.1, gamma=10.0, period=2, steps_per_epoch=5)
    >>> round(float(lr(20)), 6)  # epoch 4: 0.1 / 10 ** (4 / 2)
    0.001

    Reference:
        Deck 001, "Learning Rate Scheduling: Exponential Scheduling".
    """

    def __init__(
        self,
        initial_learning_rate,
        gamma,
        period=1,
        unit="epoch",
        steps_per_epoch=None,
        staircase=False,
        name=None,
    ):
        super().__init__()
        check_float("initial_learning_rate", initial_learning_rate, low=0.0, low_inclusive=False)
        check_float("gamma", gamma, low=1.0)
        check_int("period", period, low=1)
        check_choice("unit", unit, ("epoch", "step"))
        if unit == "epoch" and steps_per_epoch is None:
            raise invalid(
                "steps_per_epoch",
                steps_per_epoch,
                "a positive integer when unit='epoch' (the schedule is called "
                "with the optimizer's step counter)",
            )
        check_int("steps_per_epoch", steps_per_epoch, low=1, allow_none=True)
        check_bool("staircase", staircase)
        self.initial_learning_rate = initial_learning_rate
        self.gamma = gamma
        self.period = period
        self.unit = unit
        self.steps_per_epoch = steps_per_epoch
        self.staircase = staircase
        self.name = name

    def __call__(self, step):
        if self.unit == "epoch":
            n = _epoch_of(step, self.steps_per_epoch)
        else:
            n = ops.cast(step, "float32")
        p = n / float(self.period)
        if self.staircase:
            p = ops.floor(p)
        return float(self.initial_learning_rate) * ops.power(
            ops.cast(1.0 / float(self.gamma), "float32"), p
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "gamma": self.gamma,
            "period": self.period,
            "unit": self.unit,
            "steps_per_epoch": self.steps_per_epoch,
            "staircase": self.staircase,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kreg")
class StepDecay(_Schedule):
    r"""PyTorch's ``StepLR``: multiply by ``gamma`` every ``step_size`` epochs.

    .. math::

        \eta(e) = \eta_0 \, \gamma^{\lfloor e / \text{step\_size} \rfloor},
        \qquad e = \lfloor \text{step} / \text{steps\_per\_epoch} \rfloor

    Counts epochs (needs ``steps_per_epoch``). ``gamma`` follows PyTorch's
    convention (a multiplier in (0, 1]), the inverse of the slide's gamma in
    :class:`ExponentialDecay`: the slide's example ``StepLR(optimizer,
    step_size=30, gamma=0.1)`` is ``StepDecay(0.05, step_size=30, gamma=0.1,
    steps_per_epoch=...)``: 0.05 for epochs 0-29, 0.005 for 30-59, ...

    Args:
        initial_learning_rate: ``eta0 > 0``.
        step_size: epochs between two drops; a positive int.
        gamma: multiplicative factor in (0, 1]. Defaults to 0.1.
        steps_per_epoch: optimizer steps per epoch (a positive int).
        name: optional name.

    Example:

    >>> lr = StepDecay(0.05, step_size=30, gamma=0.1, steps_per_epoch=10)
    >>> round(float(lr(300)), 6)  # epoch 30
    0.005

    Reference:
        Deck 001, "Learning Rate Scheduling" (``torch.optim.lr_scheduler.StepLR``).
    """

    def __init__(self, initial_learning_rate, step_size, gamma=0.1, steps_per_epoch=None, name=None):
        super().__init__()
        check_float("initial_learning_rate", initial_learning_rate, low=0.0, low_inclusive=False)
        check_int("step_size", step_size, low=1)
        check_float("gamma", gamma, low=0.0, high=1.0, low_inclusive=False)
        check_int("steps_per_epoch", steps_per_epoch, low=1)
        self.initial_learning_rate = initial_learning_rate
        self.step_size = step_size
        self.gamma = gamma
        self.steps_per_epoch = steps_per_epoch
        self.name = name

    def __call__(self, step):
        e = _epoch_of(step, self.steps_per_epoch)
        k = ops.floor(e / float(self.step_size))
        return float(self.initial_learning_rate) * ops.power(
            ops.cast(float(self.gamma), "float32"), k
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "step_size": self.step_size,
            "gamma": self.gamma,
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kreg")
class PiecewiseConstant(_Schedule):
    r"""Predetermined piecewise constant learning rate, by epoch.

    .. math::

        \eta(e) = \text{values}[i] \quad\text{for}\quad
        \text{boundaries}[i-1] \le e < \text{boundaries}[i]

    with ``e = floor(step / steps_per_epoch)`` the epoch index (0-based), so
    ``values[i]`` is used from epoch ``boundaries[i-1]`` on (PyTorch
    ``MultiStepLR`` milestones). Keras's ``PiecewiseConstantDecay`` counts
    steps and switches one step later (``step <= boundary``).

    Args:
        boundaries: increasing list of positive epoch indices.
        values: ``len(boundaries) + 1`` positive learning rates.
        steps_per_epoch: optimizer steps per epoch (a positive int).
        name: optional name.

    Example (the slide: eta = 0.1, then at the 50th epoch eta = 0.0001):

    >>> lr = PiecewiseConstant([50], [0.1, 1e-4], steps_per_epoch=10)
    >>> [round(float(lr(s)), 6) for s in (0, 499, 500)]
    [0.1, 0.1, 0.0001]

    Reference:
        Deck 001, "Learning Rate Scheduling: predetermined piecewise constant".
    """

    def __init__(self, boundaries, values, steps_per_epoch=None, name=None):
        super().__init__()
        if not isinstance(boundaries, (list, tuple)) or not all(
            isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in boundaries
        ) or any(b1 >= b2 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise invalid("boundaries", boundaries, "a strictly increasing list of positive integers (epochs)")
        if not isinstance(values, (list, tuple)) or len(values) != len(boundaries) + 1:
            raise invalid("values", values, f"a list of {len(boundaries) + 1} floats (len(boundaries) + 1)")
        for v in values:
            check_float("values", v, low=0.0, low_inclusive=False)
        check_int("steps_per_epoch", steps_per_epoch, low=1)
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.steps_per_epoch = steps_per_epoch
        self.name = name

    def __call__(self, step):
        e = _epoch_of(step, self.steps_per_epoch)
        lr = ops.cast(float(self.values[0]), "float32") + 0.0 * e
        for boundary, value in zip(self.boundaries, self.values[1:]):
            lr = ops.where(e >= float(boundary), float(value), lr)
        return lr

    def get_config(self):
        return {
            "boundaries": list(self.boundaries),
            "values": list(self.values),
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }


@keras.saving.register_keras_serializable(package="kreg")
class Scaled(_Schedule):
    r"""A schedule multiplied by a scale that can change during ``fit``.

    .. math::

        \eta(t) = s \cdot \eta_{\text{inner}}(t)

    ``scale`` is a ``keras.Variable`` (made from a float when a float is
    passed). Callbacks change it with ``scale.assign(...)`` between steps; a
    Python float would be frozen into the compiled train step.

    The scale belongs to the schedule: it is a plain, non-trainable,
    float32 variable that nothing tracks. It is not one of the optimizer's
    variables (not in ``optimizer.variables``, so not in an optimizer
    checkpoint and not part of JAX's train state). Two consequences:

    - Under JAX the compiled train step reads it as a constant, so after
      ``scale.assign(...)`` the train function must be rebuilt
      (``model.make_train_function(force=True)``);
      :class:`kreg.callbacks.ReduceLROnPlateau` does this after a reduction.
    - ``get_config`` stores the *current* value of the scale, so a model
      saved to a ``.keras`` file resumes with the reduced learning rate; a
      checkpoint of the optimizer's variables alone does not hold it.

    Args:
        schedule: the inner ``LearningRateSchedule`` (or its config dict).
        scale: initial scale (float > 0) or a scalar float ``keras.Variable``
            whose value is finite and > 0 (used as is, not copied).
        name: optional name.

    Example:

    >>> lr = Scaled(StepDecay(0.1, step_size=1, gamma=0.5, steps_per_epoch=1), 0.1)
    >>> round(float(lr(1)), 6)
    0.005
    """

    def __init__(self, schedule, scale=1.0, name=None):
        super().__init__()
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        if not isinstance(schedule, _Schedule):
            raise invalid("schedule", schedule, "a keras.optimizers.schedules.LearningRateSchedule", exc=TypeError)
        if isinstance(scale, keras.Variable):
            expected = "a float > 0, or a scalar float keras.Variable with a finite value > 0"
            if tuple(scale.shape) != () or not keras.backend.is_float_dtype(scale.dtype):
                raise invalid("scale", scale, expected)
            value = float(ops.convert_to_numpy(scale))
            if not (value > 0 and value < float("inf")):
                raise invalid("scale", scale, expected)
            self.scale = scale
        else:
            check_float("scale", scale, low=0.0, low_inclusive=False)
            self.scale = keras.Variable(float(scale), trainable=False, dtype="float32", name="lr_scale")
        self.schedule = schedule
        self.name = name

    def __call__(self, step):
        return ops.cast(self.schedule(step), "float32") * ops.cast(self.scale, "float32")

    def get_config(self):
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "scale": float(ops.convert_to_numpy(self.scale)),
            "name": self.name,
        }
