"""lessons/l10_early_stopping.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_early_stopping"
FIGURES = {"early_stopping_curves.png", "test_accuracy.png"}
ARMS = {"early stopping + refits"}


def _check_outputs(out, res, seeds, epochs):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["exact", "empirical", "empirical"]
    assert len(on_disk["demonstrations"]) == 3
    rule = on_disk["metrics"]["patience_rule"]
    for entry in on_disk["replicates"]["early stopping + refits"]["per_seed"]:
        numbers = entry["numbers"]
        assert 1 <= numbers["best_epoch"] <= epochs
        # the first run always runs the whole budget (the stored copy is compared with the last epoch)
        assert len(numbers["val_curve"]) == epochs and "nan" not in numbers["val_curve"]
        assert 1 <= numbers["continued_epochs"] <= numbers["best_epoch"]
    assert all(b <= s for b, s in zip(rule["best_epoch"], rule["stop_epoch"]))
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res, seeds=2, epochs=3)
    assert_quick_decides_nothing(res)  # the restore identity is still checked, and holds
    assert_each_outcome_reachable(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"
    assert res["config"]["batch_size"] == 32


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--patience", "0"], r"`--patience`.*Received: patience=0"),
    (["--quick", "--batch-size", "-1"], r"`--batch-size`.*Received: batch_size=-1"),
    (["--quick", "--margin", "acc=-1"], r"`--margin`.*Received: margin='acc=-1'"),
    (["--quick", "--label-noise", "0.2"], r"`--label-noise`"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5, epochs=60)
    record_and_compare_verdicts(res)
