"""lessons/l10_ensembles.py: quick mode on every backend, the full default run (slow) checks the claims."""

import pytest
from lesson_support import assert_claims_hold, check_results, load_lesson

NAME = "l10_ensembles"
FIGURES = ("ema_val_curve.png", "ensemble_size.png", "test_accuracy.png")


def _check_outputs(out, res):
    return check_results(out, res, NAME, n_claims=None, figures=FIGURES, png_magic=True, claim_keys=("claim", "holds"))


def test_quick_run_writes_results_and_figures(tmp_path):
    res = load_lesson(NAME).main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    assert on_disk["config"]["quick"] is True


@pytest.mark.parametrize("argv, flag", [[["--members", "1"], "--members"], [["--ema-decay", "1.0"], "--ema-decay"], [["--learning-rate", "0"], "--learning-rate"]])
def test_bad_lesson_flags_raise_before_training(argv, flag, tmp_path):
    with pytest.raises(ValueError, match=flag):
        load_lesson(NAME).main([*argv, "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = load_lesson(NAME).main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    assert_claims_hold(res)
