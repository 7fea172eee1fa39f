"""lessons/l12_batch_size.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l12_batch_size"
FIGURES = {"loss_vs_updates.png", "sharpness_vs_lr.png"}
ARMS = {"batch 64, lr 0.01", "batch 64, lr 0.1", "batch 64, lr 0.3", "batch 1024, lr 0.1, same epochs",
        "batch 1024, lr 0.1, same updates"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=6, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    # the margins 'flatter' and 'worse' shift the effects, which are then compared with 0
    assert all(c["margin"] == 0 and c["direction"] == "greater" for c in on_disk["claims"])
    assert on_disk["config"]["margins"] == {"flatter": pytest.approx(0.0953, abs=1e-4), "worse": 0.01}
    assert len(on_disk["references"]) == 2
    for arm, row in on_disk["metrics"]["runs"].items():
        assert row["rho"] == row["rho"] and row["base_loss"] > 0, arm  # not NaN
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert all(r["outcome"] == "not comparable" for r in res["references"])
    runs = on_disk["metrics"]["runs"]
    # the control: batch 1024 takes as many updates as batch 64, and more than at equal epochs
    assert runs["batch 1024, lr 0.1, same updates"]["updates"] == runs["batch 64, lr 0.1"]["updates"]
    assert runs["batch 1024, lr 0.1, same epochs"]["updates"] < runs["batch 64, lr 0.1"]["updates"]
    assert on_disk["config"]["sharpness_examples"] <= 2048


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--batch-sizes", "1024", "64"], r"`--batch-sizes`.*Received: batch_sizes=\[1024, 64\]"),
    (["--quick", "--lrs", "0.01", "0.3"], r"`--lrs`.*Received: lrs=\[0.01, 0.3\]"),
    (["--quick", "--radius", "1.5"], r"`--radius`.*Received: radius=1.5"),
    (["--quick", "--sharpness-examples", "0"], r"`--sharpness-examples`.*Received: sharpness_examples=0"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5)
    record_and_compare_verdicts(res)
