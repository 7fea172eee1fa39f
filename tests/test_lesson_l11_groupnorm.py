"""lessons/l11_groupnorm.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l11_groupnorm"
FIGURES = {"error_vs_batch_size.png"}


def _arms(sizes):
    return {f"{norm}, batch {b}" for norm in ("BN", "GN") for b in sizes}


def _check_outputs(out, res, sizes, seeds):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, _arms(sizes), seeds)
    assert [(c["kind"], c["direction"], c["margin_name"]) for c in on_disk["claims"]] == [
        ("empirical", "greater", "rise"), ("empirical", "agree", "flat"), ("empirical", "greater", "rise")]
    assert on_disk["metrics"]["test_error"]["batch_sizes"] == list(sizes)
    assert len(on_disk["demonstrations"]) == 1
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res, sizes=(32, 2), seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"
    assert res["config"]["input"].startswith("14x14")


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--batch-sizes", "1", "4"], r"`--batch-sizes`.*Received: batch_sizes=\[1, 4\]"),
    (["--quick", "--batch-sizes", "8"], r"`--batch-sizes`.*Received: batch_sizes=\[8\]"),
    (["--quick", "--groups", "3"], r"`--groups`.*Received: groups=3"),
    (["--quick", "--base-lr", "0"], r"`--base-lr`.*Received: base_lr=0.0"),
    (["--quick", "--norms", "BN", "LN"], r"`--norms`.*Received: norms=\['BN', 'LN'\]"),
    (["--quick", "--train-size", "10"], r"`--train-size`.*Received: train_size=10"),
    (["--quick", "--margin", "rise=-1"], r"`--margin`.*Received: margin='rise=-1'"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, sizes=(32, 16, 8, 4, 2), seeds=5)
    record_and_compare_verdicts(res)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)
