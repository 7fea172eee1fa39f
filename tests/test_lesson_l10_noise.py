"""lessons/l10_noise.py: quick run under every backend, default run (slow) checks the claims."""

import pytest
from lesson_support import assert_claims_hold, check_results, load_lesson

NAME = "l10_noise"
FIGURES = ("input_noise_ridge.png", "weight_noise_curves.png", "gap_and_confidence.png")


def _check_outputs(out, res):
    return check_results(out, res, NAME, n_claims=3, figures=FIGURES, png_magic=True)


def test_quick(tmp_path):
    res = load_lesson(NAME).main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    a = on_disk["metrics"]["input_noise"]
    assert a["ridge_lambda"] == pytest.approx(a["sigma"] ** 2 * a["n"])


@pytest.mark.parametrize("argv, match", [
    (["--input-noise", "0"], "--input-noise"),
    (["--weight-noise", "-0.1"], "--weight-noise"),
    (["--label-smoothing", "1.5"], "--label-smoothing"),
])
def test_bad_arguments_fail_before_training(tmp_path, argv, match):
    with pytest.raises(ValueError, match=match):
        load_lesson(NAME).main([*argv, "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = load_lesson(NAME).main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    assert_claims_hold(res)
