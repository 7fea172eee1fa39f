"""kreg.ensembles: combinations of members' logits against numpy/scipy oracles, under every backend."""

import itertools

import keras
import numpy as np
import pytest
from scipy import special

from kreg import ensembles


def _logits(m=5, n=40, k=4, seed=0, scale=3.0):
    return np.random.default_rng(seed).normal(size=(m, n, k)) * scale


def _labels(n=40, k=4, seed=1):
    return np.random.default_rng(seed).integers(0, k, n)


def test_log_softmax_and_nll_match_scipy():
    z = _logits()[0] * 100.0  # large logits: the stable form must not overflow
    lp = ensembles.log_softmax(z)
    np.testing.assert_allclose(lp, special.log_softmax(z, axis=-1), rtol=1e-12, atol=1e-12)
    y = _labels()
    np.testing.assert_allclose(ensembles.nll(lp, y), -special.log_softmax(z, axis=-1)[np.arange(40), y])


def test_scores_from_logits_and_from_log_probabilities_agree():
    z, y = _logits()[0], _labels()
    a = ensembles.scores(z, y)
    b = ensembles.scores(special.log_softmax(z, axis=-1), y, from_logits=False)
    np.testing.assert_allclose(a["nll"], b["nll"], rtol=1e-12)
    np.testing.assert_array_equal(a["correct"], (z.argmax(-1) == y).astype(float))
    np.testing.assert_array_equal(a["correct"], b["correct"])


def test_average_logits_and_probabilities_match_the_definitions():
    z = _logits()
    np.testing.assert_allclose(ensembles.average_logits(z), z.mean(0))
    p = special.softmax(z, axis=-1).mean(0)
    np.testing.assert_allclose(ensembles.average_probabilities(z), np.log(p), rtol=1e-10, atol=1e-12)
    # softmax of the mean logits is the normalized geometric mean of the members' probabilities
    geo = np.exp(special.log_softmax(z, axis=-1).mean(0))
    np.testing.assert_allclose(special.softmax(z.mean(0), axis=-1), geo / geo.sum(-1, keepdims=True), rtol=1e-10)


def test_average_probabilities_is_stable_when_members_underflow():
    z = np.array([[[1000.0, 0.0]], [[0.0, 1000.0]]])
    np.testing.assert_allclose(ensembles.average_probabilities(z), np.log([[0.5, 0.5]]), atol=1e-12)


def test_majority_vote_counts_and_breaks_ties_by_mean_probability_then_index():
    by_example = np.array([
        [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [5.0, 0.0, 0.0]],  # votes 2-1: class 1
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 9.0]],  # tie 1-1-1: class 2 has the largest mean probability
    ])
    assert ensembles.majority_vote(by_example.transpose(1, 0, 2)).tolist() == [1, 2]
    tie = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # tie, equal mean probabilities: the smaller index
    assert ensembles.majority_vote(tie).tolist() == [0]


def test_majority_vote_matches_a_loop_oracle():
    z = _logits(m=5, n=200, k=3, seed=3)
    p = special.softmax(z, axis=-1).mean(0)
    want = []
    for i in range(z.shape[1]):
        counts = np.bincount(z[:, i].argmax(-1), minlength=3)
        tied = np.flatnonzero(counts == counts.max())
        want.append(int(tied[np.argmax(p[i, tied])]))
    assert ensembles.majority_vote(z).tolist() == want


def test_combine_and_member_scores():
    z, y = _logits(), _labels()
    out = ensembles.combine(z, y)
    assert set(out) == set(ensembles.METHODS) and set(out["vote"]) == {"correct"}
    np.testing.assert_array_equal(out["logits"]["correct"], (z.mean(0).argmax(-1) == y).astype(float))
    each = ensembles.member_scores(z, y)
    assert each["correct"].shape == each["nll"].shape == (5, 40)
    # Jensen: the probability average's NLL never exceeds the members' mean NLL, example by example
    assert np.all(out["probabilities"]["nll"] <= each["nll"].mean(0) + 1e-12)
    assert set(ensembles.combine(z, y, ("vote",))) == {"vote"}


def test_disagreement_and_subset_curve():
    z, y = _logits(m=4), _labels()
    pred = z.argmax(-1)
    want = np.mean([np.mean(pred[a] != pred[b]) for a, b in itertools.combinations(range(4), 2)])
    assert ensembles.disagreement(z) == pytest.approx(want)
    assert ensembles.disagreement(np.repeat(z[:1], 3, axis=0)) == 0.0
    assert ensembles.disagreement(z[:1]) == 0.0
    curve = ensembles.subset_curve(z, y)
    each = ensembles.member_scores(z, y)
    assert curve["accuracy"][0] == pytest.approx(each["correct"].mean())  # m = 1 is the mean member
    full = ensembles.combine(z, y, ("probabilities",))["probabilities"]
    assert curve["accuracy"][-1] == pytest.approx(full["correct"].mean())
    assert curve["nll"][-1] == pytest.approx(full["nll"].mean())
    assert np.isnan(ensembles.subset_curve(z, y, "vote")["nll"]).all()
    capped = ensembles.subset_curve(_logits(m=8), y, max_subsets=3)
    assert capped["accuracy"].shape == (8,)


def test_backend_tensors_are_accepted():
    z, y = _logits(), _labels()
    t = keras.ops.convert_to_tensor(z.astype("float32"))
    np.testing.assert_allclose(ensembles.average_logits(t), z.astype("float32").astype("float64").mean(0), rtol=1e-6, atol=1e-6)
    assert ensembles.combine(t, y)["vote"]["correct"].shape == (40,)


def test_predict_members_stacks_logits_and_restores_the_weights():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    own = model.get_weights()
    rng = np.random.default_rng(0)
    members = [[rng.normal(size=w.shape).astype("float32") for w in own] for _ in range(3)]
    x = rng.normal(size=(7, 3)).astype("float32")
    z = ensembles.predict_members(model, members, x)
    assert z.shape == (3, 7, 4) and z.dtype == np.float64
    for zm, (kernel, bias) in zip(z, members):
        np.testing.assert_allclose(zm, x @ kernel + bias, rtol=1e-5, atol=1e-5)
    for a, b in zip(model.get_weights(), own):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("call, match", [
    (lambda: ensembles.average_logits(np.zeros((3, 4))), r"`logits.shape`.*\(M, n, k\).*Received: logits.shape=\(3, 4\)"),
    (lambda: ensembles.scores(np.zeros((3, 4, 2)), [0, 0, 0]), r"`outputs.shape`.*\(n, k\)"),
    (lambda: ensembles.combine(np.full((2, 3, 4), np.nan), [0, 1, 2]), r"`logits`.*finite numbers"),
    (lambda: ensembles.combine(np.zeros((2, 3, 4)), [0, 1]), r"`y.shape`.*\(3,\)"),
    (lambda: ensembles.combine(np.zeros((2, 3, 4)), [0, 1, 4]), r"`y`.*class labels in \[0, 3\]"),
    (lambda: ensembles.combine(np.zeros((2, 3, 4)), [0.5, 1, 2]), r"`y`.*integer class labels"),
    (lambda: ensembles.combine(np.zeros((2, 3, 4)), [0, 1, 2], ("mean",)), r"`methods`"),
    (lambda: ensembles.combine(np.zeros((2, 3, 4)), [0, 1, 2], "vote"), r"`methods`"),
    (lambda: ensembles.subset_curve(np.zeros((2, 3, 4)), [0, 1, 2], "median"), r"`method`"),
    (lambda: ensembles.subset_curve(np.zeros((2, 3, 4)), [0, 1, 2], max_subsets=0), r"`max_subsets`"),
    (lambda: ensembles.average_logits(np.zeros((2, 3, 1))), r"two classes"),
    (lambda: ensembles.predict_members(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), [],
                                       np.zeros((1, 3))), r"`weights`.*non-empty"),
    (lambda: ensembles.predict_members(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
                                       [[np.zeros((3, 2))]], np.zeros((1, 3))), r"`weights\[0\]`.*2 arrays"),
])
def test_bad_input_raises_keras_style_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wrong_types_raise_type_errors():
    with pytest.raises(TypeError, match=r"`model`.*a built Keras model"):
        ensembles.predict_members(object(), [[np.zeros(1)]], np.zeros((1, 3)))
    with pytest.raises(TypeError, match=r"`y`.*integer class labels"):
        ensembles.combine(np.zeros((2, 3, 4)), np.array(["a", "b", "c"]))
