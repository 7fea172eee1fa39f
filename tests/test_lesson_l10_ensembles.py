"""lessons/l10_ensembles.py: quick mode on every backend, the full default run (slow) checks the claims."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l10_ensembles"
FIGURES = ("ema_val_curve.png", "ensemble_size.png", "test_accuracy.png")


def _check_outputs(out, res):
    return check_results(out, res, NAME, n_claims=None, figures=FIGURES, png_magic=True, claim_keys=("claim", "holds"))


def test_quick_run_writes_results_and_figures(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res)
    assert on_disk["config"]["quick"] is True


@pytest.mark.parametrize("argv, flag", [[["--members", "1"], "--members"], [["--ema-decay", "1.0"], "--ema-decay"], [["--learning-rate", "0"], "--learning-rate"]])
def test_bad_lesson_flags_raise_before_training(argv, flag, tmp_path):
    assert_bad_flag(NAME, argv, flag, tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
