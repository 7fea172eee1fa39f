"""lessons/l10_early_stopping.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l10_early_stopping"
FIGURES = {"early_stopping_curves.png", "reuse_validation_data.png", "test_accuracy.png"}


def _check_outputs(out, res):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True)
    assert set(on_disk["runs"]) == {"early stopping", "refit (1): fresh on train+val, best #epochs",
                                    "refit (2): continue on train+val until val loss < train loss at stop"}
    m = on_disk["metrics"]
    assert 1 <= m["best_epoch"] <= m["epochs_run"]
    assert m["refit1_fresh"]["epochs"] == m["best_epoch"]
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res)


def test_bad_label_noise_is_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--label-noise", "1.5"], r"`--label-noise`.*Received: label_noise=1.5", tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
