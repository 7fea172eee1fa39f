"""lessons/l10_more_data.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l10_more_data"
FIGURES = {"learning_curves_vs_n.png"}


def _check_outputs(out, res):
    on_disk = check_results(out, res, NAME, n_claims=2, figures=FIGURES, exact_figures=True)
    sizes = on_disk["metrics"]["sizes"]
    for model in on_disk["metrics"]["accuracy"].values():
        assert all(len(model[s]) == len(sizes) for s in ("train", "val", "test"))
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res)


def test_bad_sizes_are_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--sizes", "5"], r"`--sizes`.*Received: sizes=\[5\]", tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
