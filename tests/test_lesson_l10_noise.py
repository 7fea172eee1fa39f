"""lessons/l10_noise.py: quick run under every backend, default run (slow) checks the claims."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l10_noise"
FIGURES = ("input_noise_ridge.png", "weight_noise_curves.png", "gap_and_confidence.png")


def _check_outputs(out, res):
    return check_results(out, res, NAME, n_claims=3, figures=FIGURES, png_magic=True)


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res)
    a = on_disk["metrics"]["input_noise"]
    assert a["ridge_lambda"] == pytest.approx(a["sigma"] ** 2 * a["n"])


@pytest.mark.parametrize("argv, match", [
    (["--input-noise", "0"], "--input-noise"),
    (["--weight-noise", "-0.1"], "--weight-noise"),
    (["--label-smoothing", "1.5"], "--label-smoothing"),
])
def test_bad_arguments_fail_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
