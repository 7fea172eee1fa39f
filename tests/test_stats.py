"""kreg.stats: intervals over seeds and examples, and every claim decision driven to each outcome."""

import math

import numpy as np
import pytest

from kreg import stats

# ----------------------------------------------------------------- decisions


@pytest.mark.parametrize(
    "low, high, direction, margin, expected",
    [
        (0.02, 0.05, "greater", 0.01, stats.HOLDS),
        (-0.05, 0.005, "greater", 0.01, stats.DOES_NOT_HOLD),
        (0.0, 0.03, "greater", 0.01, stats.INCONCLUSIVE),
        (0.005, 0.03, "greater", 0.01, stats.INCONCLUSIVE),  # positive, but not surely beyond the margin
        (0.001, 0.002, "greater", 0.0, stats.HOLDS),  # margin 0: any effect counts
        (-0.05, -0.02, "less", 0.01, stats.HOLDS),
        (-0.005, 0.05, "less", 0.01, stats.DOES_NOT_HOLD),
        (-0.03, 0.0, "less", 0.01, stats.INCONCLUSIVE),
        (-0.01, 0.01, "agree", 0.02, stats.HOLDS),
        (0.03, 0.05, "agree", 0.02, stats.DOES_NOT_HOLD),
        (-0.05, -0.02, "agree", 0.02, stats.DOES_NOT_HOLD),
        (-0.01, 0.03, "agree", 0.02, stats.INCONCLUSIVE),
        (-0.03, 0.03, "agree", 0.02, stats.INCONCLUSIVE),
    ],
)
def test_decide_reaches_every_outcome(low, high, direction, margin, expected):
    assert stats.decide(low, high, direction=direction, margin=margin) == expected


def test_decide_needs_two_seeds_and_finite_bounds():
    assert stats.decide(0.5, 0.6, direction="greater", margin=0.0, seeds=1) == stats.INCONCLUSIVE
    assert stats.decide(0.5, 0.6, direction="greater", margin=0.0, seeds=2) == stats.HOLDS
    assert stats.decide(float("nan"), 0.6, direction="greater", margin=0.0) == stats.INCONCLUSIVE


@pytest.mark.parametrize("kwargs, match", [
    ({"direction": "bigger", "margin": 0.0}, r"`direction`.*Received: direction='bigger'"),
    ({"direction": "greater", "margin": -0.1}, r"`margin`.*Received: margin=-0.1"),
    ({"direction": "greater", "margin": float("inf")}, r"`margin`"),
    ({"direction": "greater", "margin": "0.1"}, r"`margin`"),
])
def test_decide_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        stats.decide(0.0, 1.0, **kwargs)


def test_decide_rejects_inverted_interval():
    with pytest.raises(ValueError, match="low <= high"):
        stats.decide(1.0, 0.0, direction="greater", margin=0.0)


def test_decide_exact():
    assert stats.decide_exact(3e-7, 1e-5) == stats.HOLDS
    assert stats.decide_exact(-3e-7, 1e-5) == stats.HOLDS
    assert stats.decide_exact(2e-4, 1e-5) == stats.DOES_NOT_HOLD
    assert stats.decide_exact(float("nan"), 1e-5) == stats.DOES_NOT_HOLD
    with pytest.raises(ValueError, match=r"`tolerance`.*Received: tolerance=-1"):
        stats.decide_exact(0.0, -1)


@pytest.mark.parametrize("low, high, expected", [
    (0.975, 0.979, stats.REPRODUCES),
    (0.960, 0.970, stats.DOES_NOT_REPRODUCE),
    (0.985, 0.990, stats.DOES_NOT_REPRODUCE),
    (0.968, 0.976, stats.INCONCLUSIVE),
])
def test_decide_reference(low, high, expected):
    assert stats.decide_reference(low, high, 0.9777) == expected


# ----------------------------------------------------------------- estimates


def test_estimate_seed_only_is_a_t_interval():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    est = stats.estimate(lambda m: m["x"], {"x": x})
    half = 2.7764451051977987 * x.std(ddof=1) / math.sqrt(5)  # t(0.975, 4)
    assert est.value == pytest.approx(3.0)
    assert est.low == pytest.approx(3.0 - half) and est.high == pytest.approx(3.0 + half)
    assert est.seeds == 5 and est.se_examples == 0.0 and est.per_seed == (1.0, 2.0, 3.0, 4.0, 5.0)


def test_estimate_paired_over_seeds():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 1.0, size=8)  # a big shared seed effect cancels in a paired difference
    a = seed_effect + 0.3 + rng.normal(0, 0.01, 8)
    b = seed_effect
    est = stats.estimate(lambda m: m["a"] - m["b"], {"a": a, "b": b})
    assert est.low > 0.25 and est.high < 0.35


def test_estimate_covers_test_set_sampling_error():
    """Identical seeds: the interval still has the width that the finite test set implies."""
    rng = np.random.default_rng(1)
    n = 400
    correct = (rng.random(n) < 0.9).astype(float)
    samples = {("arm", "test"): np.tile(correct, (5, 1))}
    est = stats.estimate(lambda m: m["arm", "test"], samples)
    binomial_se = math.sqrt(correct.mean() * (1 - correct.mean()) / n)
    assert est.se_seeds == 0.0
    assert est.se_examples == pytest.approx(binomial_se, rel=0.15)
    assert est.high - est.low == pytest.approx(2 * 1.96 * est.se_examples, rel=0.01)


def test_estimate_pairs_examples_across_arms():
    """The same examples in both arms: an arm compared with itself plus a constant has a zero-width interval."""
    rng = np.random.default_rng(2)
    x = rng.random((3, 50))
    est = stats.estimate(lambda m: m["b", "val"] - m["a", "val"], {("a", "val"): x, ("b", "val"): x + 0.1})
    assert est.value == pytest.approx(0.1)
    assert est.high - est.low == pytest.approx(0.0, abs=1e-12)


def test_estimate_interval_covers_the_truth_about_95_percent():
    """Simulated seeds and examples: coverage of the interval near its nominal level."""
    rng = np.random.default_rng(3)
    hits = 0
    trials = 200
    for _ in range(trials):
        p = 0.8 + rng.normal(0, 0.01, size=5)  # seed-level accuracy
        truth = 0.8
        correct = (rng.random((5, 300)) < p[:, None]).astype(float)
        est = stats.estimate(lambda m: m["x"], {"x": correct}, splits={"x": "test"}, n_boot=300,
                             seed=int(rng.integers(1 << 30)))
        hits += est.low <= truth <= est.high
    assert 0.88 <= hits / trials <= 0.995


def test_estimate_nonlinear_effect_and_single_seed():
    x = np.array([[0.2, 0.4]])
    est = stats.estimate(lambda m: np.log(m["x"]), {"x": x})
    assert est.value == pytest.approx(math.log(0.3))
    assert math.isnan(est.low) and est.seeds == 1
    assert stats.decide(est.low, est.high, direction="greater", margin=0.0, seeds=est.seeds) == stats.INCONCLUSIVE


@pytest.mark.parametrize("samples, match", [
    ({}, "non-empty"),
    ({"a": np.zeros(3), "b": np.zeros(4)}, "same K"),
    ({"a": np.zeros((2, 3, 4))}, r"\(K,\) or \(K, n\)"),
    ({"a": np.array([1.0, np.nan])}, "finite"),
    ({("a", "val"): np.zeros((2, 3)), ("b", "val"): np.zeros((2, 4))}, "same number of examples"),
])
def test_estimate_rejects_bad_samples(samples, match):
    with pytest.raises(ValueError, match=match):
        stats.estimate(lambda m: 0.0, samples)


def test_total_variation():
    p = np.array([[0.5, 0.5], [1.0, 0.0]])
    q = np.array([[0.5, 0.5], [0.0, 1.0]])
    np.testing.assert_allclose(stats.total_variation(p, q), [0.0, 1.0])
    with pytest.raises(ValueError, match="`q`"):
        stats.total_variation(p, q[:1])
