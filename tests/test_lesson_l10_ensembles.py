"""lessons/l10_ensembles.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_ensembles"
FIGURES = {"ensembles.png", "test_accuracy.png"}


def _mean(value):
    """A measured array as results.json keeps it: a list, or its mean when it is long."""
    return value["mean"] if isinstance(value, dict) else sum(value) / len(value)


def _check_outputs(out, res, seeds, members):
    on_disk = check_results(out, res, NAME, n_claims=4, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, {f"ensembles of {members}"}, seeds)
    assert all(c["kind"] == "empirical" for c in on_disk["claims"])
    assert len(on_disk["demonstrations"]) == 2
    for entry in on_disk["replicates"][f"ensembles of {members}"]["per_seed"]:
        numbers = entry["numbers"]
        # Jensen: the averaged probabilities never have a larger NLL than the mean member
        assert _mean(numbers["seeds_probabilities_nll"]) <= _mean(numbers["seeds_member_nll"]) + 1e-12
        assert 0.0 <= numbers["disagree_seeds"] <= 1.0
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, seeds=2, members=4)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    # every replicate trains M nets of its own; member seeds are disjoint across replicates
    assert len(on_disk["replicates"]["ensembles of 4"]["per_seed"][0]["history"]["loss"]) == 4 * 2


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--members", "1"], r"`--members`.*Received: members=1"),
    (["--quick", "--ema-decay", "1.0"], r"`--ema-decay`.*Received: ema_decay=1.0"),
    (["--quick", "--learning-rate", "0"], r"`--learning-rate`.*Received: learning_rate=0.0"),
    (["--quick", "--batch-size", "0"], r"`--batch-size`.*Received: batch_size=0"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5, members=4)
    record_and_compare_verdicts(res)
