"""Sharpness of a minimum: the mean loss rise under small random weight perturbations.

Deck 003 ("Why does a large learning rate help?": noisy updates escape sharp
minima, flatter minima generalize better; Keskar et al., 2017) and deck 004
(implicit regularization of SGD and small batches). A flat minimum is one
where the loss barely changes when the weights move a little; kreg measures
it the simple way::

    sharpness = mean_k [ L(w + r * ||w|| * d_k / ||d_k||) - L(w) ],   d_k ~ N(0, I)

with ``L`` the mean loss over ``(x, y)``, ``r`` the ``radius`` *relative to
the weight norm* (so a network and the same network with its weights scaled
are probed at the same relative distance), and ``n_directions`` random
Gaussian directions drawn with numpy from ``seed`` (the same directions on
every backend). ``normalize="layer"`` scales the perturbation of each weight
tensor to ``r * ||w_tensor||`` instead, in the spirit of Li et al.'s (2018)
filter normalization (deck 002), which removes ReLU nets' freedom to rescale
one layer up and the next one down.

Random directions measure the average curvature (for a quadratic
``L = ½ wᵀHw`` around a minimum the rise is ``½ ε² tr(H)/n``), not the worst
direction that Keskar et al.'s ε-sharpness maximizes; it needs no gradients
and runs on any backend.
"""

from __future__ import annotations

import keras
import numpy as np

from kreg._validation import check_choice, check_float, check_int, invalid

__all__ = ["sharpness", "loss_on"]


def loss_on(model, x, y, *, loss=None, batch_size=1024):
    """Mean loss of ``model`` (inference mode) over ``(x, y)``, as a Python float.

    ``loss`` defaults to the compiled ``model.loss`` (a ``keras.losses.Loss``
    object or a callable ``(y_true, y_pred) -> per-example or mean loss``).
    Weight penalties (``model.losses``) are not added: this is the data loss.
    """
    loss_fn = _loss_fn(model, loss)
    batch_size = check_int("batch_size", batch_size, low=1)
    n = len(x)
    if n == 0:
        raise invalid("x", "an empty array", "at least one example")
    total = 0.0
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        value = loss_fn(yb, model(xb, training=False))
        total += float(np.mean(keras.ops.convert_to_numpy(value))) * len(xb)
    return total / n


def _loss_fn(model, loss):
    if not isinstance(model, keras.Model):
        raise invalid("model", model, "a keras.Model", exc=TypeError)
    loss = loss if loss is not None else getattr(model, "loss", None)
    if loss is None:
        raise invalid("loss", loss, "a loss (or a model compiled with one)")
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if not callable(loss):
        raise invalid("loss", loss, "a callable (y_true, y_pred) -> loss", exc=TypeError)
    return loss


def sharpness(model, x, y, radius=0.05, n_directions=10, seed=0, *, loss=None, normalize="global",
              batch_size=1024, return_all=False):
    """Mean rise of the loss when the weights move by ``radius`` (relative) in random directions.

    Args:
        model: a built ``keras.Model``; its trainable weights are perturbed
            and restored exactly afterwards (also if an error occurs).
        x, y: the data the loss is measured on (usually the training set).
        radius: relative size ``r > 0`` of the perturbation: its norm is
            ``r * ||w||`` (all trainable weights together, or per tensor with
            ``normalize="layer"``).
        n_directions: number of random Gaussian directions (int >= 1).
        seed: numpy seed of the directions (int >= 0).
        loss: the loss; defaults to the compiled ``model.loss``.
        normalize: ``"global"`` (one norm over all trainable weights) or
            ``"layer"`` (each tensor perturbed by ``r`` times its own norm;
            tensors that are all zero, e.g. fresh biases, are left alone).
        batch_size: evaluation batch size.
        return_all: also return the per-direction rises and the base loss.

    Returns:
        The mean loss rise (float); with ``return_all``, a dict with keys
        ``sharpness``, ``rises`` (list) and ``base_loss``.

    >>> # s = sharpness(model, x_train, y_train, radius=0.05, n_directions=10, seed=0)
    """
    radius = check_float("radius", radius, low=0.0, low_inclusive=False)
    n_directions = check_int("n_directions", n_directions, low=1)
    seed = check_int("seed", seed, low=0)
    normalize = check_choice("normalize", normalize, ("global", "layer"))
    loss_fn = _loss_fn(model, loss)
    if not model.built:
        raise invalid("model", model.name, "a built model (call it on data or build it first)")
    variables = list(model.trainable_weights)
    if not variables:
        raise invalid("model", model.name, "a model with trainable weights")
    originals = [np.asarray(keras.ops.convert_to_numpy(v.value)) for v in variables]
    norms = [float(np.linalg.norm(w)) for w in originals]
    global_norm = float(np.sqrt(sum(n * n for n in norms)))
    rng = np.random.default_rng(seed)
    base = loss_on(model, x, y, loss=loss_fn, batch_size=batch_size)
    rises = []
    try:
        for _ in range(n_directions):
            d = [rng.standard_normal(w.shape) for w in originals]
            if normalize == "global":
                dn = float(np.sqrt(sum(np.sum(t * t) for t in d)))
                steps = [radius * global_norm / dn * t for t in d]
            else:
                steps = [radius * n / max(float(np.linalg.norm(t)), 1e-12) * t for n, t in zip(norms, d)]
            for v, w, s in zip(variables, originals, steps):
                v.assign((w + s).astype(w.dtype))
            rises.append(loss_on(model, x, y, loss=loss_fn, batch_size=batch_size) - base)
    finally:
        for v, w in zip(variables, originals):
            v.assign(w)
    value = float(np.mean(rises))
    if return_all:
        return {"sharpness": value, "rises": [float(r) for r in rises], "base_loss": base}
    return value
