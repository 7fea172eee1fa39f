"""Norm penalties (L1, L2, elastic net) and tools to attach and measure them.

The math
--------
With ``w`` every entry of one weight tensor (the penalty of a model is the sum
over its regularized tensors), kreg uses Keras's convention for L1 and L2 and
scikit-learn's for the elastic net::

    L1(l1)                  l1 * sum(|w|)
    L2(l2)                  l2 * sum(w**2)                    (no 1/2)
    ElasticNet(alpha, r1)   alpha * (r1 * sum(|w|) + 0.5 * (1 - r1) * sum(w**2))

where ``r1 = l1_ratio`` in [0, 1] (1: lasso, 0: ridge with ``0.5 * alpha``).
Keras adds the penalty *once per step* to the *batch-mean* data loss
(``loss = mean_i l(y_i, f(x_i)) + penalty``); it is not divided by the batch
size.

Each lecture's λ in kreg's arguments
------------------------------------
======  ==============================================  =============================================
deck    the slide's penalty (data term is a mean loss)  kreg
======  ==============================================  =============================================
000     λ/n · Σ_j w_j², n = batch size (formula slide)  ``L2(lam / n)``
000     code: ``cost + 2./n * LAMBDA * L2``              ``L2(2 * lam / n)`` (twice the formula!)
000     ``torch.optim.SGD(weight_decay=LAMBDA)``         ``L2(lam / 2)`` on weights *and* biases, or
                                                         ``keras.optimizers.SGD(weight_decay=lam)``
001     α·R(θ), ridge R = ‖θ‖₂²                          ``L2(alpha)``
001     α·R(θ), lasso R = Σ|θ_i|                         ``L1(alpha)``
001     α·(r·‖θ‖₂² + (1-r)/2·Σ|θ_i|)  (r=0: lasso!)      ``ElasticNet(alpha*(1+3r)/2, (1-r)/(1+3r))``
002     λ*·‖θ‖₂²  (soft-constraint slide)                ``L2(lam)``
002     ½λ‖w‖₂²  (weight-decay slide)                   ``L2(lam / 2)``
003     λ/2·‖w‖₂²  (λ₀ on the weight-decay slide)        ``L2(lam / 2)``
003     weight decay w ← (1-λ₁)w - α∇L                   ``SGD(learning_rate=a, weight_decay=lam1/a)``
003     AdamW slide: θ -= η_t(α·m̂/(√v̂+ε) + λθ)           ``AdamW(learning_rate=eta*a, weight_decay=lam/a)``
004     λ‖W‖²  = λ Σ W_kl²                               ``L2(lam)``
004     λ Σ|W_kl|                                        ``L1(lam)``
004     ``λ Σ (β W_kl² + |W_kl|)``                       ``ElasticNet(lam*(1+2*beta), 1/(1+2*beta))``
======  ==============================================  =============================================

Notes on the decks. Deck 000's formula slide (λ/n Σw², update ``2λ/n · w``) and
its PyTorch code (``2./n * LAMBDA * L2``, update ``4λ/n · w``) differ by a
factor 2, and its ``weight_decay=LAMBDA`` is a third scale (penalty λ/2 Σw²,
applied to the bias too). Deck 001 swaps the usual roles of ``r`` (in
Géron's and scikit-learn's elastic net r=0 is ridge; on the slide r=0 is lasso,
with a factor ½ on the lasso term). Deck 004's update
``W ← W(1-2λ) - α∇L`` drops the learning rate from the decay term; the penalty
``λ‖W‖²`` is what kreg maps. :func:`from_lecture` does these conversions.

Data loss and penalty, separately
---------------------------------
Keras reports ``loss = data loss + penalty``. :func:`penalty` evaluates the
penalty at the model's current weights (the sum of ``variable.regularizer(v)``
over the trainable weights, which is exactly the weight part of
``sum(model.losses)`` that ``compute_loss`` adds), so ``loss - penalty(model)``
is the data loss. It is exact for ``model.evaluate`` (weights fixed); for the
``loss`` that ``fit`` logs (a running mean over the epoch's steps, each with the
penalty at that step's weights) it is a close approximation once the weights
move slowly. kreg's ``LearningCurves`` callback logs both at epoch end.
Activity regularizers and ``add_loss`` terms depend on the batch and are *not*
part of :func:`penalty`.

Coupled L2 vs decoupled weight decay
------------------------------------
See :func:`sgd_weight_decay_for_l2`.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from kreg._validation import check_choice, check_float, invalid

__all__ = [
    "L1",
    "L2",
    "ElasticNet",
    "from_lecture",
    "apply",
    "kernels",
    "penalty",
    "weight_norm",
    "sparsity",
    "sgd_weight_decay_for_l2",
    "l2_for_sgd_weight_decay",
]


def _sum_abs(x):
    return keras.ops.sum(keras.ops.abs(x))


def _sum_sq(x):
    return keras.ops.sum(keras.ops.square(x))


@keras.saving.register_keras_serializable(package="kreg")
class L1(keras.regularizers.Regularizer):
    """L1 (lasso) penalty: ``l1 * sum(|w|)``.

    Math: :math:`\\Omega(w) = \\ell_1 \\sum_i |w_i|` (Keras's convention).

    Args:
        l1: float >= 0, the factor. Deck 001's α·Σ|θ| and deck 004's
            λΣ|W| are ``L1(lam)``.

    >>> layer = keras.layers.Dense(3, kernel_regularizer=L1(1e-4))
    """

    def __init__(self, l1=0.01):
        self.l1 = check_float("l1", l1, low=0.0)

    def __call__(self, x):
        return keras.ops.cast(self.l1, x.dtype) * _sum_abs(x)

    def get_config(self):
        return {"l1": self.l1}


@keras.saving.register_keras_serializable(package="kreg")
class L2(keras.regularizers.Regularizer):
    """L2 (ridge, Tikhonov) penalty: ``l2 * sum(w**2)``, with no ½.

    Math: :math:`\\Omega(w) = \\ell_2 \\sum_i w_i^2` (Keras's convention); its
    gradient is ``2 * l2 * w``. Decks 002/003's λ/2‖w‖² is ``L2(lam / 2)``,
    deck 004's λ‖W‖² is ``L2(lam)``, deck 000's λ/n Σw² is ``L2(lam / n)``.

    Args:
        l2: float >= 0, the factor.

    >>> layer = keras.layers.Dense(3, kernel_regularizer=L2(1e-4))
    """

    def __init__(self, l2=0.01):
        self.l2 = check_float("l2", l2, low=0.0)

    def __call__(self, x):
        return keras.ops.cast(self.l2, x.dtype) * _sum_sq(x)

    def get_config(self):
        return {"l2": self.l2}


@keras.saving.register_keras_serializable(package="kreg")
class ElasticNet(keras.regularizers.Regularizer):
    """Elastic net, scikit-learn's convention.

    Math:

    .. math::
        \\Omega(w) = \\alpha \\Big(\\rho \\sum_i |w_i|
                     + \\tfrac{1}{2}(1-\\rho) \\sum_i w_i^2\\Big),
        \\quad \\rho = \\text{l1\\_ratio} \\in [0, 1]

    ``l1_ratio=1`` is ``L1(alpha)``, ``l1_ratio=0`` is ``L2(alpha / 2)``.
    Deck 001's mix (r=0 means lasso there) and deck 004's βW²+|W| map through
    :func:`from_lecture`.

    Args:
        alpha: float >= 0, overall strength.
        l1_ratio: float in [0, 1], the lasso share.

    >>> layer = keras.layers.Dense(3, kernel_regularizer=ElasticNet(1e-3, 0.5))
    """

    def __init__(self, alpha=0.01, l1_ratio=0.5):
        self.alpha = check_float("alpha", alpha, low=0.0)
        self.l1_ratio = check_float("l1_ratio", l1_ratio, low=0.0, high=1.0)

    def __call__(self, x):
        a = keras.ops.cast(self.alpha, x.dtype)
        r = keras.ops.cast(self.l1_ratio, x.dtype)
        return a * (r * _sum_abs(x) + 0.5 * (1.0 - r) * _sum_sq(x))

    def get_config(self):
        return {"alpha": self.alpha, "l1_ratio": self.l1_ratio}


_DECK_PENALTIES = {
    "000": ("l2",),
    "001": ("l2", "l1", "elastic_net"),
    "002": ("l2",),
    "003": ("l2", "l1"),
    "004": ("l2", "l1", "elastic_net"),
}


def from_lecture(deck, lam, *, penalty="l2", batch_size=None, r=None, beta=None):
    """The kreg regularizer equal to a lecture slide's penalty term.

    Args:
        deck: ``"000"`` .. ``"004"`` (the file prefixes in ``shared/seeds``).
        lam: the slide's λ (α in deck 001), float >= 0.
        penalty: ``"l2"``, ``"l1"`` or ``"elastic_net"`` (decks 001, 004).
        batch_size: deck 000 only: its n (the batch size; λ/n Σw²).
        r: deck 001 elastic net only: its mix, r=0 lasso, r=1 ridge.
        beta: deck 004 elastic net only: its β in ``Σ βW² + |W|``.

    Returns:
        ``L1``, ``L2`` or ``ElasticNet``; see the module table:
        000 l2 → ``L2(lam/n)``; 001 l2/l1 → ``L2(lam)``/``L1(lam)``,
        elastic net → ``ElasticNet(lam*(1+3r)/2, (1-r)/(1+3r))``;
        002, 003 l2 → ``L2(lam/2)`` (their ½λ‖w‖²), 003 l1 → ``L1(lam)``;
        004 l2/l1 → ``L2(lam)``/``L1(lam)``,
        elastic net → ``ElasticNet(lam*(1+2*beta), 1/(1+2*beta))``.
    """
    deck = check_choice("deck", deck, tuple(_DECK_PENALTIES))
    lam = check_float("lam", lam, low=0.0)
    penalty = check_choice("penalty", penalty, _DECK_PENALTIES[deck])
    if deck == "000":
        if batch_size is None:
            raise invalid("batch_size", batch_size, "the batch size n of deck 000's λ/n")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise invalid("batch_size", batch_size, "an integer >= 1")
        return L2(lam / batch_size)
    if deck in ("002", "003") and penalty == "l2":
        return L2(lam / 2.0)
    if penalty == "l2":
        return L2(lam)
    if penalty == "l1":
        return L1(lam)
    if deck == "001":
        r = check_float("r", r, low=0.0, high=1.0)
        # α (r‖θ‖² + (1-r)/2 Σ|θ|) = a (ρ Σ|θ| + (1-ρ)/2 ‖θ‖²)
        # ⇒ aρ = α(1-r)/2 and a(1-ρ) = 2αr.
        return ElasticNet(lam * (1.0 + 3.0 * r) / 2.0, (1.0 - r) / (1.0 + 3.0 * r))
    beta = check_float("beta", beta, low=0.0)
    # λ (β‖W‖² + Σ|W|) = a (ρ Σ|W| + (1-ρ)/2 ‖W‖²) ⇒ aρ = λ, a(1-ρ) = 2λβ.
    return ElasticNet(lam * (1.0 + 2.0 * beta), 1.0 / (1.0 + 2.0 * beta))


# --------------------------------------------------------------------------
# Attaching and measuring
# --------------------------------------------------------------------------

_KERNEL_KEYS = (
    "kernel_regularizer",
    "depthwise_regularizer",
    "pointwise_regularizer",
    "recurrent_regularizer",
)
_BIAS_KEYS = ("bias_regularizer",)
_NORM_KEYS = ("gamma_regularizer", "beta_regularizer")


def _is_kernel(variable):
    name = variable.path.split("/")[-1] if getattr(variable, "path", None) else variable.name
    return name.endswith("kernel")


def _check_model(model, fn):
    if not isinstance(model, keras.Model):
        raise invalid("model", model, "a keras.Model", exc=TypeError)
    if not model.built:
        raise invalid(
            "model", model.name, f"a built model ({fn} needs its weights); call it on data or build it first"
        )


def kernels(model):
    """The trainable kernel variables of ``model`` (no biases, no norm params).

    A kernel is a trainable weight whose name ends in ``kernel``: Dense, Conv*,
    EinsumDense, kreg's DropConnect ``kernel``, ``depthwise_kernel``,
    ``pointwise_kernel``, ``recurrent_kernel``. Shared variables appear once.
    """
    _check_model(model, "kernels")
    seen, out = set(), []
    for v in model.trainable_weights:
        if _is_kernel(v) and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _fresh(regularizer):
    if regularizer is None:
        return None
    return keras.regularizers.deserialize(keras.regularizers.serialize(regularizer))


def apply(model, regularizer, *, include="kernels"):
    """A copy of a built model with ``regularizer`` on every kernel.

    The copy has the same architecture and the same weights (so the same
    predictions) as ``model``; it is not compiled. Every layer whose config has
    a kernel regularizer (``kernel_``, ``depthwise_``, ``pointwise_``,
    ``recurrent_regularizer``) or that has a ``kernel_regularizer`` attribute
    gets ``regularizer``; bias, normalization (``gamma``/``beta``) and any
    other weight regularizers (``embeddings_regularizer``, ...) are removed,
    so the result carries exactly one kind of penalty (deck 004: weight
    decay is usually not applied to biases). Activity regularizers are left
    alone. Nested models are handled, and so are wrapped layers
    (``kreg.layers.WeightNoise``, ``TimeDistributed``, ``Bidirectional``,
    an RNN's cell): the rule holds for every trainable variable of the copy,
    and ``apply(model, None)`` leaves no weight penalty at all.

    Args:
        model: a built ``keras.Model`` (Sequential or Functional).
        regularizer: a Keras regularizer (``L2(1e-4)``, ...) or ``None`` to
            strip every weight penalty (the unregularized baseline).
        include: ``"kernels"`` (default) or ``"kernels_and_biases"`` (deck
            000's torch ``weight_decay`` also decays the bias).

    Returns:
        A new ``keras.Model``.
    """
    _check_model(model, "apply")
    include = check_choice("include", include, ("kernels", "kernels_and_biases"))
    if regularizer is not None and not callable(regularizer):
        raise invalid("regularizer", regularizer, "a keras Regularizer or None", exc=TypeError)

    def rewrite(config):
        """Set every weight regularizer in a layer config, descending into wrapped layers' configs."""
        if isinstance(config, list):
            return [rewrite(c) for c in config]
        if not isinstance(config, dict):
            return config
        out = {}
        for key, value in config.items():
            if key in _KERNEL_KEYS:
                out[key] = keras.regularizers.serialize(_fresh(regularizer))
            elif key in _BIAS_KEYS:
                out[key] = (
                    keras.regularizers.serialize(_fresh(regularizer)) if include == "kernels_and_biases" else None
                )
            elif key.endswith("_regularizer") and key != "activity_regularizer":
                out[key] = None  # gamma, beta, embeddings, ...: not the one kind of penalty asked for
            else:
                # a wrapper's "layer" / "backward_layer" / an RNN's "cell" is a nested layer config
                out[key] = rewrite(value)
        return out

    def clone_function(layer):
        new = layer.__class__.from_config(rewrite(layer.get_config()))
        for sub in _sublayers(new):
            # a plain attribute (an RNN's is a read-only property that forwards to its cell)
            if hasattr(sub, "kernel_regularizer") and not isinstance(
                    getattr(type(sub), "kernel_regularizer", None), property):
                sub.kernel_regularizer = _fresh(regularizer)
        return new

    copy = keras.models.clone_model(model, clone_function=clone_function, recursive=True)
    if not copy.built:  # Sequential without an Input: build from the original
        copy.build(model.inputs[0].shape if model.inputs else None)
    copy.set_weights(model.get_weights())
    # The variables are what Keras reads (``model.losses`` sums ``v.regularizer(v)`` over the trainable
    # weights). Enforce the rule on them, so that layers which keep a regularizer outside their config
    # (or create a kernel without reading ``kernel_regularizer``) carry exactly the one penalty asked for.
    kernel_ids = {id(v) for v in kernels(copy)}
    for v in copy.trainable_weights:
        if id(v) in kernel_ids:
            wanted = regularizer
        elif include == "kernels_and_biases" and _is_bias(v):
            wanted = regularizer
        else:
            wanted = None
        current = getattr(v, "regularizer", None)
        if wanted is None:
            if current is not None:
                v.regularizer = None
        elif current is None or current.get_config() != wanted.get_config() or type(current) is not type(wanted):
            v.regularizer = _fresh(wanted)
    return copy


def _is_bias(variable):
    name = variable.path.split("/")[-1] if getattr(variable, "path", None) else variable.name
    return name.endswith("bias")


def _sublayers(layer):
    """``layer`` and the layers it wraps (``Wrapper.layer``, ``Bidirectional``'s two, an RNN's cell)."""
    out, stack = [], [layer]
    while stack:
        cur = stack.pop()
        if not isinstance(cur, keras.layers.Layer) or any(cur is o for o in out):
            continue
        out.append(cur)
        for attr in ("layer", "forward_layer", "backward_layer", "cell"):
            stack.append(getattr(cur, attr, None))
        stack.extend(getattr(cur, "cells", None) or [])
    return out


def _to_float(x):
    return float(np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64))


def penalty(model):
    """The total weight penalty at the current weights, as a Python float.

    The sum of ``variable.regularizer(variable)`` over the trainable weights:
    what Keras's ``compute_loss`` adds through ``model.losses``. So
    ``model.evaluate(...)`` loss minus ``penalty(model)`` is the data loss.
    Activity regularizers and ``add_loss`` terms (they depend on the batch)
    are not included.
    """
    _check_model(model, "penalty")
    total, seen = 0.0, set()
    for v in model.trainable_weights:
        reg = getattr(v, "regularizer", None)
        if reg is None or id(v) in seen:
            continue
        seen.add(id(v))
        total += _to_float(reg(v.value))
    return total


def _kernel_arrays(model, fn):
    _check_model(model, fn)
    return [np.asarray(keras.ops.convert_to_numpy(v.value), dtype=np.float64) for v in kernels(model)]


def weight_norm(model, ord=2):
    """Norm of all kernel entries taken together, as a Python float.

    ``ord=2``: ``sqrt(sum(w**2))`` (Frobenius norm of every kernel stacked);
    ``ord=1``: ``sum(|w|)``. Biases and normalization parameters are left out.
    """
    ord = check_choice("ord", ord, (1, 2))
    arrays = _kernel_arrays(model, "weight_norm")
    if ord == 1:
        return float(sum(np.abs(a).sum() for a in arrays))
    return float(math.sqrt(sum(np.square(a).sum() for a in arrays)))


def sparsity(model, tol=1e-3):
    """Fraction of kernel entries with ``|w| <= tol``, as a Python float."""
    tol = check_float("tol", tol, low=0.0)
    arrays = _kernel_arrays(model, "sparsity")
    n = sum(a.size for a in arrays)
    if n == 0:
        raise invalid("model", model.name, "a model with at least one kernel")
    return float(sum(int((np.abs(a) <= tol).sum()) for a in arrays) / n)


# --------------------------------------------------------------------------
# Coupled L2 vs decoupled weight decay
# --------------------------------------------------------------------------


def sgd_weight_decay_for_l2(l2):
    """Keras ``SGD(weight_decay=...)`` that reproduces an ``L2(l2)`` penalty: ``2 * l2``.

    Keras 3 applies weight decay in ``Optimizer._apply_weight_decay``, called
    by ``apply_gradients`` *after* the gradients were computed at ``w_t`` and
    *before* the optimizer's update step, and it multiplies by the learning
    rate::

        w' = w_t - lr * wd * w_t            # decay
        w_{t+1} = w' - lr * g(w_t)          # plain SGD step, g at w_t

    so ``w_{t+1} = w_t - lr * (g(w_t) + wd * w_t)``. ``L2(l2)`` adds
    ``2 * l2 * w_t`` to the gradient, so with plain SGD (``momentum=0``, no
    Nesterov) ``wd = 2 * l2`` gives the same iterates, equal in exact
    arithmetic and to float round-off in practice (the two orders of
    operations round differently). The decay hits every trainable variable,
    biases included, unless excluded with
    ``optimizer.exclude_from_weight_decay(...)``; put ``L2`` on biases too
    (``apply(..., include="kernels_and_biases")``) to compare like for like.

    No equivalence exists when the gradient is transformed before the step:

    - SGD with momentum: L2's ``2*l2*w`` enters the velocity and is
      accumulated; Keras's decay does not (it is decoupled: "SGDW").
      ``torch.optim.SGD(weight_decay=wd)`` is *coupled* instead: it equals
      Keras SGD with ``L2(wd / 2)``, with or without momentum.
    - Adam, RMSprop, ...: L2's gradient is divided by ``sqrt(v)``, so large,
      often-updated weights are decayed less; Keras ``Adam(weight_decay=wd)``
      (and ``AdamW``) decay every weight by ``lr * wd`` (deck 003's AdamW
      slide; Loshchilov & Hutter, 2019). Keras multiplies the decay by the
      full learning rate ``lr = eta_t * alpha``, as torch's AdamW does; deck
      003's algorithm multiplies λ by the schedule multiplier η_t only, so
      its λ is Keras's ``weight_decay = lam / alpha``.

    Args:
        l2: float >= 0, the ``L2`` factor.

    Returns:
        ``2 * l2`` as a float.
    """
    return 2.0 * check_float("l2", l2, low=0.0)


def l2_for_sgd_weight_decay(weight_decay):
    """The ``L2`` factor equal to plain-SGD ``weight_decay`` (Keras or torch): ``wd / 2``.

    Deck 000's ``torch.optim.SGD(weight_decay=LAMBDA)`` is a ``L2(LAMBDA / 2)``
    penalty on weights and biases. See :func:`sgd_weight_decay_for_l2`.
    """
    return check_float("weight_decay", weight_decay, low=0.0) / 2.0
