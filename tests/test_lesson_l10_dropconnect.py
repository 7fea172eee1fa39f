"""lessons/l10_dropconnect.py: quick run under every backend, default run (slow) checks the claims."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l10_dropconnect"
FIGURES = ("learning_curves.png", "accuracy_gap.png", "inference.png")


def _check_outputs(out, res):
    return check_results(out, res, NAME, n_claims=2, figures=FIGURES, png_magic=True)


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res)
    inf = on_disk["metrics"]["inference"]
    assert inf["tv_to_mc"]["mean weights"] >= 0 and inf["accuracy"]


@pytest.mark.parametrize("argv, match", [
    (["--rate", "1.0"], "--rate"),
    (["--mc-samples", "0"], "--mc-samples"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_arguments_fail_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
