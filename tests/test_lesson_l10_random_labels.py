"""lessons/l10_random_labels.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l10_random_labels"
FIGURES = {"random_labels_curves.png"}


def _check_outputs(out, res):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True)
    assert set(on_disk["runs"]) == {"true labels", "random labels", "random labels + L2 0.001"}
    for run in on_disk["runs"].values():
        assert len(run["history"]["train_accuracy_eval"]) == run["epochs"]
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res)


def test_bad_l2_is_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--l2", "-1"], r"`--l2`.*Received: l2=-1", tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
