"""lessons/l10_dropout.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, assert_claims_hold, check_results, run_lesson

NAME = "l10_dropout"
FIGURES = {"learning_curves.png", "capacity.png", "mc_vs_weight_scaling.png"}


def _check_outputs(out, res):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True)
    assert set(on_disk["runs"]) >= {"no dropout", "dropout 0.5", "vanilla dropout 0.5"}
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res)
    # the exact identity vanilla(W) == inverted((1-p) W) holds even after a quick run
    assert on_disk["metrics"]["vanilla_vs_rescaled_inverted_max_abs_logit_diff"] < 1e-4


def test_bad_rate_is_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--rate", "1.5"], r"`--rate`.*Received: rate=1.5", tmp_path)


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    assert_claims_hold(res)
