"""Intervals and claim outcomes: how a lesson's verdict is decided.

A lesson compares *arms* (no dropout vs dropout, ...) trained under ``K``
replicate seeds, and measures each trained model on fixed data splits. The
numbers it hands to :func:`estimate` are arrays of shape ``(K,)`` (one number
per seed: an epoch count, a distance) or ``(K, n)`` (one number per seed and
per example of a fixed split: correct or not, a cross-entropy). Arms are
paired: replicate ``i`` of every arm ran with seed ``seed + i``.

**The effect and its interval.** A claim's effect is a function ``f`` of the
means of those arrays (for example a difference of two gaps). For replicate
``i`` the effect is ``e_i = f(means over the examples of seed i)``; the
reported effect is ``ē = mean_i e_i``. Two sources of error are covered:

1. *Which seeds were drawn* (initial weights, masks, data order): the
   seed-to-seed spread, ``s²/K`` with ``s²`` the sample variance of the
   ``e_i``.
2. *Which test examples were drawn*: every split (train, val, test) is one
   fixed sample of the digits a student could have been given, so the same
   effect measured on another sample would differ. This part is the
   variance of ``ē`` over a bootstrap that resamples the examples of each
   split with replacement, the same resampled indices for every arm and
   seed (the comparison is paired over examples as it is over seeds).

The 95% interval is ``ē ± t(0.975, ν) · sqrt(s²/K + v_examples)``, with
Welch-Satterthwaite degrees of freedom ``ν = (s²/K + v)² / ((s²/K)²/(K-1))``
(the example part, from thousands of examples, counts as known). When the
seed spread dominates, ``ν → K-1``: the Student quantile keeps the interval
honest for the few seeds a lesson can afford (a percentile bootstrap over 5
seeds is far too narrow). With a single seed the seed spread cannot be
estimated, so the claim is not decided (see :func:`decide`).

**Three outcomes.** A claim names the direction the lecture asserts and a
margin ``m ≥ 0``, the smallest effect its sentence means:

=============  ======================  ===========================  ==================
direction      holds                   does not hold                otherwise
=============  ======================  ===========================  ==================
``"greater"``  low > m                 high < m                     inconclusive
``"less"``     high < -m               low > -m                     inconclusive
``"agree"``    -m < low and high < m   low ≥ m or high ≤ -m         inconclusive
=============  ======================  ===========================  ==================

``"agree"`` is an equivalence test (two one-sided tests at the interval's
level). Exact identities are not estimated: :func:`decide_exact` compares a
deterministic discrepancy with a float tolerance.

Why hand-written: scipy's ``bootstrap`` resamples one axis of independent
samples; here two crossed factors (seeds and examples, paired across
arms) must be resampled together, which it does not do.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = [
    "Estimate",
    "estimate",
    "decide",
    "decide_exact",
    "decide_reference",
    "OUTCOMES",
    "HOLDS",
    "DOES_NOT_HOLD",
    "INCONCLUSIVE",
    "DIRECTIONS",
    "t_quantile",
    "total_variation",
]

HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
INCONCLUSIVE = "inconclusive"
OUTCOMES = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)
DIRECTIONS = ("greater", "less", "agree")
REPRODUCES = "reproduces"
DOES_NOT_REPRODUCE = "does not reproduce"


@dataclasses.dataclass(frozen=True)
class Estimate:
    """An effect with its interval.

    Attributes:
        value: the effect, averaged over seeds.
        low, high: the interval's ends.
        level: the interval's coverage (0.95).
        seeds: number of replicate seeds ``K``.
        per_seed: the effect of each seed, ``e_i``.
        se_seeds: ``s / sqrt(K)``, the seeds' part of the standard error.
        se_examples: the examples' part (bootstrap), 0 without per-example data.
    """

    value: float
    low: float
    high: float
    level: float
    seeds: int
    per_seed: tuple
    se_seeds: float
    se_examples: float

    def to_dict(self):
        return dataclasses.asdict(self) | {"per_seed": list(self.per_seed)}


def t_quantile(p, df):
    """Quantile of Student's t with ``df`` degrees of freedom (scipy, which scikit-learn brings)."""
    if not df > 0:
        raise ValueError(f"Invalid value received for argument `df`. Expected a number > 0. Received: df={df!r}")
    from scipy import stats as _st

    return float(_st.t.ppf(p, df))


def estimate(effect, samples, *, splits=None, level=0.95, n_boot=1000, seed=0):
    """The effect ``effect(means)`` with its interval over seeds and examples.

    Args:
        effect: a function of a dict ``{key: mean}`` returning the effect. It
            must use only arithmetic (``+ - * /``, ``np.log`` ...) so that
            it also works elementwise on arrays of means.
        samples: dict ``{key: array}`` with arrays of shape ``(K,)`` (one
            number per seed) or ``(K, n)`` (per seed and example of a split).
            ``K`` must be the same for every key.
        splits: dict ``{key: split name}`` telling which ``(K, n)`` arrays
            share their examples (the same split measured in different
            arms). Keys that are tuples ``(arm, split)`` need no entry: their
            second element is the split. Other ``(K, n)`` arrays are
            resampled on their own.
        level: coverage of the interval.
        n_boot: bootstrap draws over the examples.
        seed: seed of the bootstrap (fixed, so an interval is reproducible).

    Returns:
        An :class:`Estimate`.
    """
    if not samples:
        raise ValueError("Invalid value received for argument `samples`. Expected a non-empty dict. Received: {}")
    if not 0 < level < 1:
        raise ValueError(f"Invalid value received for argument `level`. Expected a float in (0, 1). "
                         f"Received: level={level!r}")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in samples.items()}
    ks = {a.shape[0] if a.ndim else None for a in arrays.values()}
    if len(ks) != 1 or None in ks or any(a.ndim not in (1, 2) for a in arrays.values()):
        shapes = {k: a.shape for k, a in arrays.items()}
        raise ValueError(f"Invalid value received for argument `samples`. Expected arrays of shape (K,) or (K, n) "
                         f"with the same K. Received shapes: {shapes}")
    k = ks.pop()
    if k < 1:
        raise ValueError("Invalid value received for argument `samples`. Expected at least one seed. Received: K=0")
    for key, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise ValueError(f"Invalid value received for argument `samples`. Expected finite numbers. "
                             f"Received: non-finite values under {key!r}")
    per_seed_means = {key: (a.mean(axis=1) if a.ndim == 2 else a) for key, a in arrays.items()}
    e = np.asarray(effect(per_seed_means), dtype=np.float64) * np.ones(k)
    value = float(e.mean())
    var_seeds = float(e.var(ddof=1)) / k if k > 1 else 0.0

    # Examples: group the (K, n) arrays by split; one resampling of each split per draw.
    groups = {}
    for key, a in arrays.items():
        if a.ndim == 2:
            split = (splits or {}).get(key, key[1] if isinstance(key, tuple) and len(key) == 2 else key)
            groups.setdefault(split, []).append(key)
    var_examples = 0.0
    if groups:
        rng = np.random.default_rng(seed)
        boot_means = {key: m[:, None] for key, m in per_seed_means.items()}  # (K, 1) broadcasts
        for split, keys in groups.items():
            ns = {arrays[key].shape[1] for key in keys}
            if len(ns) != 1:
                raise ValueError(f"Invalid value received for argument `samples`. Arrays of split {split!r} "
                                 f"must have the same number of examples. Received: "
                                 f"{ {key: arrays[key].shape for key in keys} }")
            n = ns.pop()
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).T.astype(np.float64)  # (n, B)
            for key in keys:
                boot_means[key] = arrays[key] @ counts / n  # (K, B)
        eb = np.asarray(effect(boot_means), dtype=np.float64)
        eb = np.broadcast_to(eb, (k, n_boot)).mean(axis=0)
        var_examples = float(eb.var(ddof=1))
    se = math.sqrt(var_seeds + var_examples)
    if k < 2:
        q = float("nan")
    else:
        df = (var_seeds + var_examples) ** 2 / (var_seeds**2 / (k - 1)) if var_seeds > 0 else 1e6
        q = t_quantile(0.5 + level / 2, min(df, 1e6))
    half = q * se
    return Estimate(value=value, low=value - half, high=value + half, level=level, seeds=k,
                    per_seed=tuple(float(v) for v in e), se_seeds=math.sqrt(var_seeds),
                    se_examples=math.sqrt(var_examples))


def _check_direction_margin(direction, margin):
    if direction not in DIRECTIONS:
        raise ValueError(f"Invalid value received for argument `direction`. Expected one of {DIRECTIONS}. "
                         f"Received: direction={direction!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float, np.floating, np.integer)) \
            or not math.isfinite(margin) or margin < 0:
        raise ValueError(f"Invalid value received for argument `margin`. Expected a finite number >= 0. "
                         f"Received: margin={margin!r}")


def decide(low, high, *, direction, margin, seeds=None):
    """Outcome of a claim from its interval ``[low, high]``: ``holds``, ``does not hold`` or ``inconclusive``.

    See the module docstring for the table. With ``seeds`` below 2 (no
    estimate of the seed spread) or a NaN bound the outcome is
    ``inconclusive``.
    """
    _check_direction_margin(direction, margin)
    if (seeds is not None and seeds < 2) or not (math.isfinite(low) and math.isfinite(high)):
        return INCONCLUSIVE
    if low > high:
        raise ValueError(f"Invalid value received for argument `low`. Expected low <= high. "
                         f"Received: low={low!r}, high={high!r}")
    if direction == "greater":
        return HOLDS if low > margin else DOES_NOT_HOLD if high < margin else INCONCLUSIVE
    if direction == "less":
        return HOLDS if high < -margin else DOES_NOT_HOLD if low > -margin else INCONCLUSIVE
    # agree: equivalence within (-margin, +margin)
    if -margin < low and high < margin:
        return HOLDS
    if low >= margin or high <= -margin:
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def decide_exact(discrepancy, tolerance):
    """``holds`` when a deterministic discrepancy is within ``tolerance`` (and finite), else ``does not hold``."""
    if not (isinstance(tolerance, (int, float, np.floating)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"Invalid value received for argument `tolerance`. Expected a finite number >= 0. "
                         f"Received: tolerance={tolerance!r}")
    d = float(discrepancy)
    return HOLDS if math.isfinite(d) and abs(d) <= tolerance else DOES_NOT_HOLD


def decide_reference(low, high, reference, *, tolerance=0.005):
    """Does a measured interval reproduce a reference number within ``tolerance`` (0.5 pp)?

    ``reproduces`` when the whole interval lies inside ``reference ±
    tolerance``; ``does not reproduce`` when it lies entirely outside;
    ``inconclusive`` otherwise (an equivalence test, like ``"agree"``).
    """
    out = decide(low - reference, high - reference, direction="agree", margin=tolerance)
    return {HOLDS: REPRODUCES, DOES_NOT_HOLD: DOES_NOT_REPRODUCE}.get(out, INCONCLUSIVE)


def total_variation(p, q, axis=-1):
    """Total-variation distance ``½ Σ_k |p_k - q_k|`` between probability vectors, one per row.

    0 for identical distributions, 1 for disjoint ones. Used to measure how
    far a Monte-Carlo ensemble's prediction is from weight scaling's.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"Invalid value received for argument `q`. Expected the shape of `p`, {p.shape}. "
                         f"Received: q.shape={q.shape}")
    return 0.5 * np.abs(p - q).sum(axis=axis)
