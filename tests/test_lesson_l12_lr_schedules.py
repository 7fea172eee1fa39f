"""lessons/l12_lr_schedules.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l12_lr_schedules"
FIGURES = {"lr_and_val_loss.png"}


def _check_outputs(out, res):
    on_disk = check_results(out, res, NAME, n_claims=1, figures=FIGURES, exact_figures=True)
    assert len(on_disk["runs"]) == 5 and "constant" in on_disk["runs"]
    for label, r in on_disk["runs"].items():
        assert len(r["history"]["epoch_lr"]) == r["epochs"], label
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res)
    runs = on_disk["runs"]
    assert len(set(runs["constant"]["history"]["epoch_lr"])) == 1  # the constant rate stays put
    exp = [r for lab, r in runs.items() if lab.startswith("ExponentialDecay (")][0]["history"]["epoch_lr"]
    assert exp[1] < exp[0]  # the exponential schedule decays from epoch to epoch


def test_bad_factor_is_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--factor", "1.5"], r"`--factor`.*Received: factor=1.5", tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
