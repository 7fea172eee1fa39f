r"""Combining the predictions of several classifiers (deck 004, "Model ensembles").

Deck 004: "Train multiple models, and at test time average their
predictions": for classification "the most frequent predicted class or mean
of the pre-softmax activations". The members' outputs are stacked into one
array of logits :math:`z \in \mathbb R^{M \times n \times k}` (``M`` members,
``n`` examples, ``k`` classes), and combined in one of three ways:

- **mean of the pre-softmax activations** (:func:`average_logits`):
  :math:`\bar z_{i} = \frac1M \sum_m z_{m i}`, predicted class
  :math:`\arg\max_c \bar z_{ic}`; its softmax is the normalized geometric
  mean of the members' probabilities,
  :math:`\mathrm{softmax}(\bar z_i)_c \propto \big(\prod_m p_{mic}\big)^{1/M}`;
- **mean of the probabilities** (:func:`average_probabilities`):
  :math:`\bar p_{ic} = \frac1M \sum_m \mathrm{softmax}(z_{mi})_c`, returned as
  :math:`\log \bar p_{ic}` computed stably as a log-sum-exp of the members'
  log-probabilities minus :math:`\log M`;
- **majority vote** (:func:`majority_vote`): the class most members predict,
  ties broken by the mean probability, then by the smaller class index.

Scores are per example, the raw material of :func:`kreg.stats.estimate`'s
bootstrap: :func:`scores` gives ``correct`` (0/1) and ``nll``
(:math:`-\log p_{i, y_i}`) of one array of logits or log-probabilities;
:func:`member_scores` does it for every member. Jensen's inequality
(:math:`-\log` is convex) makes the probability average's NLL at most the
members' mean NLL on *every* example,

.. math:: -\log \tfrac1M \textstyle\sum_m p_{m i y_i} \le \tfrac1M \sum_m -\log p_{m i y_i},

with equality only when all members give :math:`y_i` the same probability;
accuracy has no such guarantee.

Everything here works on NumPy arrays (backend tensors are converted with
``keras.ops.convert_to_numpy``) in float64, so the same numbers come out
under TensorFlow, JAX and PyTorch. :func:`predict_members` is the one
function that runs a model: it loads each member's weights into one model
(no rebuild, no recompilation) and stacks the logits.

Example:

>>> import numpy as np
>>> z = np.array([[[2.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]])  # 3 members, 1 example, 2 classes
>>> majority_vote(z).tolist()
[0]
>>> combine(z, np.array([0]))["vote"]["correct"].tolist()
[1.0]
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from kreg._predict import predict_arrays
from kreg._validation import check_int, invalid

__all__ = [
    "METHODS",
    "log_softmax",
    "nll",
    "scores",
    "average_logits",
    "average_probabilities",
    "majority_vote",
    "combine",
    "member_scores",
    "disagreement",
    "subset_curve",
    "predict_members",
]

#: The combinations :func:`combine` knows: deck 004's two, and the probability average.
METHODS = ("vote", "logits", "probabilities")


def _array(name, value, ndim):
    """``value`` as a finite float64 array with ``ndim`` dimensions (backend tensors converted)."""
    if not isinstance(value, np.ndarray):
        try:
            import keras

            value = keras.ops.convert_to_numpy(value)
        except Exception:  # lists, scalars: numpy decides
            pass
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid(name, type(value).__name__, "an array of numbers", exc=TypeError) from None
    if arr.ndim != ndim:
        shape = {2: "(n, k)", 3: "(M, n, k)"}[ndim]
        raise invalid(f"{name}.shape", arr.shape, f"an array of shape {shape} ({ndim} dimensions)")
    if arr.size == 0 or arr.shape[-1] < 2:
        raise invalid(f"{name}.shape", arr.shape, "at least one example and two classes")
    if not np.all(np.isfinite(arr)):
        raise invalid(name, "<array with NaN or inf>", "finite numbers")
    return arr


def _labels(y, n, k):
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) != n:
        raise invalid("y.shape", arr.shape, f"integer labels of shape ({n},), one per example")
    if arr.dtype.kind == "f":
        if not np.all(arr == np.round(arr)):
            raise invalid("y", "<array with non-integer values>", "integer class labels")
    elif arr.dtype.kind not in "iu":
        raise invalid("y", f"<array of dtype {arr.dtype}>", "integer class labels", exc=TypeError)
    arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= k:
        raise invalid("y", f"<labels in [{arr.min()}, {arr.max()}]>", f"class labels in [0, {k - 1}]")
    return arr


def log_softmax(logits, axis=-1):
    r"""Numerically stable :math:`\log \mathrm{softmax}(z)_c = z_c - \max z - \log \sum_j e^{z_j - \max z}`."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def nll(log_probs, y):
    r"""Per-example negative log-likelihood :math:`-\log p_{i, y_i}` of ``(n, k)`` log-probabilities."""
    lp = _array("log_probs", log_probs, 2)
    y = _labels(y, lp.shape[0], lp.shape[1])
    return -lp[np.arange(len(y)), y]


def scores(outputs, y, *, from_logits=True):
    """Per-example ``{"correct": (n,), "nll": (n,)}`` of one model's ``(n, k)`` outputs.

    Args:
        outputs: logits (``from_logits=True``) or log-probabilities.
        y: integer labels ``(n,)``.
        from_logits: whether ``outputs`` are logits (normalized here) or
            already log-probabilities.
    """
    z = _array("outputs", outputs, 2)
    y = _labels(y, z.shape[0], z.shape[1])
    lp = log_softmax(z) if from_logits else z
    return {"correct": (lp.argmax(-1) == y).astype(np.float64), "nll": -lp[np.arange(len(y)), y]}


def average_logits(logits):
    r"""Deck 004's "mean of the pre-softmax activations": :math:`\frac1M \sum_m z_m`, shape ``(n, k)``."""
    return _array("logits", logits, 3).mean(axis=0)


def average_probabilities(logits):
    r"""Log of the mean of the members' softmax probabilities, shape ``(n, k)``.

    :math:`\log \bar p = \mathrm{logsumexp}_m(\log p_m) - \log M`, exact and
    stable even when a member's probabilities underflow.
    """
    lp = log_softmax(_array("logits", logits, 3))
    top = lp.max(axis=0)
    return top + np.log(np.exp(lp - top).mean(axis=0))


def majority_vote(logits):
    """Deck 004's "most frequent predicted class": ``(n,)`` integer labels.

    Ties between classes with the same number of votes go to the one with the
    larger mean probability, then to the smaller class index.
    """
    z = _array("logits", logits, 3)
    m, n, k = z.shape
    votes = np.zeros((n, k))
    np.add.at(votes, (np.arange(n)[None, :].repeat(m, 0), z.argmax(-1)), 1.0)
    p = np.exp(average_probabilities(z))
    top = votes == votes.max(axis=1, keepdims=True)
    return np.where(top, p, -1.0).argmax(axis=1)


def combine(logits, y, methods=METHODS):
    """Score the ensemble of ``(M, n, k)`` logits under each combination.

    Returns ``{method: {"correct": (n,), "nll": (n,)}}``; the vote has no
    probabilities, so it has ``"correct"`` only.
    """
    z = _array("logits", logits, 3)
    y = _labels(y, z.shape[1], z.shape[2])
    if isinstance(methods, str) or not methods or any(mth not in METHODS for mth in methods):
        raise invalid("methods", methods, f"a non-empty sequence of {METHODS}")
    out = {}
    for method in methods:
        if method == "vote":
            out[method] = {"correct": (majority_vote(z) == y).astype(np.float64)}
        elif method == "logits":
            out[method] = scores(average_logits(z), y)
        else:
            out[method] = scores(average_probabilities(z), y, from_logits=False)
    return out


def member_scores(logits, y):
    """Every member's per-example scores: ``{"correct": (M, n), "nll": (M, n)}``."""
    z = _array("logits", logits, 3)
    y = _labels(y, z.shape[1], z.shape[2])
    each = [scores(zm, y) for zm in z]
    return {key: np.stack([s[key] for s in each]) for key in ("correct", "nll")}


def disagreement(logits):
    """Mean over pairs of members of the fraction of examples on which their predicted classes differ.

    0 when all members predict alike; the diversity an ensemble can exploit.
    A single member gives 0.
    """
    pred = _array("logits", logits, 3).argmax(-1)
    pairs = list(itertools.combinations(range(len(pred)), 2))
    return float(np.mean([np.mean(pred[a] != pred[b]) for a, b in pairs])) if pairs else 0.0


def subset_curve(logits, y, method="probabilities", max_subsets=64, seed=0):
    """Mean accuracy and NLL of ensembles of ``m = 1..M`` members, averaged over subsets of size ``m``.

    ``m = 1`` is the mean member; the curve does not depend on the members'
    order. For each ``m`` at most ``max_subsets`` subsets are used (all of
    them when there are fewer; a fixed random choice otherwise). Returns
    ``{"accuracy": (M,), "nll": (M,)}`` (``nll`` is NaN for the vote).
    """
    z = _array("logits", logits, 3)
    y = _labels(y, z.shape[1], z.shape[2])
    if method not in METHODS:
        raise invalid("method", method, f"one of {METHODS}")
    check_int("max_subsets", max_subsets, low=1)
    rng = np.random.default_rng(seed)
    acc, loss = [], []
    for m in range(1, len(z) + 1):
        subsets = list(itertools.combinations(range(len(z)), m))
        if len(subsets) > max_subsets:
            subsets = [subsets[i] for i in rng.choice(len(subsets), max_subsets, replace=False)]
        s = [combine(z[list(sub)], y, (method,))[method] for sub in subsets]
        acc.append(float(np.mean([x["correct"].mean() for x in s])))
        loss.append(float(np.mean([x["nll"].mean() for x in s])) if "nll" in s[0] else math.nan)
    return {"accuracy": np.array(acc), "nll": np.array(loss)}


def predict_members(model, weights, x, *, batch_size=1024):
    """Stack the logits of ``model`` under each member's weights: ``(M, n, k)`` float64.

    Args:
        model: a built Keras model whose output is logits.
        weights: a sequence of weight lists, each as ``model.get_weights()``
            returns them (one per member).
        x: the inputs.
        batch_size: prediction batch size.

    The model's own weights are put back afterwards. One model serves every
    member, so under JAX nothing is compiled again.
    """
    if not hasattr(model, "set_weights") or not hasattr(model, "predict"):
        raise invalid("model", model, "a built Keras model", exc=TypeError)
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__") or len(weights) == 0:
        raise invalid("weights", weights, "a non-empty sequence of weight lists (one per member)")
    check_int("batch_size", batch_size, low=1)
    n_expected = len(model.get_weights())
    for i, w in enumerate(weights):
        if not isinstance(w, (list, tuple)) or len(w) != n_expected:
            raise invalid(f"weights[{i}]", f"<{type(w).__name__} of length {len(w) if hasattr(w, '__len__') else '?'}>",
                          f"a list of {n_expected} arrays, as model.get_weights() returns")
    own = model.get_weights()
    try:
        out = []
        for w in weights:
            model.set_weights(w)
            out.append(np.asarray(predict_arrays(model, x, batch_size), dtype=np.float64))
    finally:
        model.set_weights(own)
    return np.stack(out)
