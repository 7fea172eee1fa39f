"""lessons/l12_lr_schedules.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l12_lr_schedules"
FIGURES = {"lr_and_val_loss.png"}


def _arms(epochs):
    return {"constant", f"StepDecay (x0.1 every {max(1, epochs // 3)} epochs)",
            f"ExponentialDecay (η0/10^(n/{max(1, epochs // 2)}))", "ReduceLROnPlateau (valid acc)",
            "ExponentialDecay + ReduceLROnPlateau"}


def _check_outputs(out, res, seeds, epochs):
    on_disk = check_results(out, res, NAME, n_claims=4, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, _arms(epochs), seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["empirical"] * 4
    assert all(c["margin_name"] == "lower" and c["unit"] == "ratio" for c in on_disk["claims"])
    assert len(on_disk["references"]) == 1
    for arm, rep in on_disk["replicates"].items():
        for entry in rep["per_seed"]:
            assert len(entry["history"]["epoch_lr"]) == epochs, arm
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, seeds=2, epochs=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert res["references"][0]["outcome"] == "not comparable"
    reps = on_disk["replicates"]
    for entry in reps["constant"]["per_seed"]:
        assert len(set(entry["history"]["epoch_lr"])) == 1  # the constant rate stays put
    for arm in ("ExponentialDecay (η0/10^(n/1))", "ExponentialDecay + ReduceLROnPlateau"):
        for entry in reps[arm]["per_seed"]:  # the schedule decays, and every seed starts again from η0
            lr = entry["history"]["epoch_lr"]
            assert lr[0] == pytest.approx(0.1) and lr[1] < lr[0], (arm, lr)
    assert "lr_reduced" in reps["ReduceLROnPlateau (valid acc)"]["per_seed"][0]["history"]


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--factor", "1.5"], r"`--factor`.*Received: factor=1.5"),
    (["--quick", "--lr", "-1"], r"`--lr`.*Received: lr=-1.0"),
    (["--quick", "--patience", "-2"], r"`--patience`.*Received: patience=-2"),
    (["--quick", "--margin", "lower=-1"], r"`--margin`.*Received: margin='lower=-1'"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5, epochs=30)
    record_and_compare_verdicts(res)
