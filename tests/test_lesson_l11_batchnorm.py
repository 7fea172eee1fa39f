"""lessons/l11_batchnorm.py: quick mode under every backend; the default setting's claims (slow)."""

import pytest
from lesson_support import check_results, load_lesson, run_lesson, record_and_compare_verdicts

NAME = "l11_batchnorm"
FIGURES = ("learning_rates.png", "scale_invariance.png")


def _check_outputs(out, res):
    return check_results(out, res, NAME, n_claims=None, figures=FIGURES, png_magic=True)


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'


@pytest.mark.parametrize("flag, value, name", [("--learning-rates", "0", "learning_rates"),
                                               ("--scales", "-2", "scales"), ("--batch-size", "1", "batch_size")])
def test_bad_flags_are_rejected(tmp_path, flag, value, name):
    with pytest.raises(ValueError, match=name):
        load_lesson(NAME).main(["--quick", "--out", str(tmp_path), "--verbose", "0", flag, value])
