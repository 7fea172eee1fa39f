"""lessons/l11_init.py: quick mode under every backend; the default setting's claims (slow)."""

import pytest
from lesson_support import check_results, load_lesson, run_lesson, record_and_compare_verdicts

NAME = "l11_init"
FIGURES = ("std_per_layer_tanh.png", "std_per_layer_relu.png", "zero_init_weights.png", "tiny_vs_kaiming.png")


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


@pytest.mark.parametrize("flag, value, name", [("--depth", "0", "depth"), ("--learning-rate", "-1", "learning_rate"),
                                               ("--stall-epochs", "0", "stall_epochs")])
def test_bad_flags_are_rejected(tmp_path, flag, value, name):
    with pytest.raises(ValueError, match=name):
        load_lesson(NAME).main(["--quick", "--out", str(tmp_path), "--verbose", "0", flag, value])
