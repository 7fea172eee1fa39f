"""lessons/l12_batch_size.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l12_batch_size"
FIGURES = {"batch_size_curves.png", "sharpness_vs_lr.png"}


def _check_outputs(out, res, runs=("batch 64, lr 0.1", "batch 1024, lr 0.1", "batch 64, lr 0.01", "batch 64, lr 0.3")):
    on_disk = check_results(out, res, NAME, n_claims=2, figures=FIGURES, exact_figures=True)
    assert set(runs) <= set(on_disk["runs"])
    for label, r in on_disk["metrics"]["runs"].items():
        assert r["sharpness"] == r["sharpness"], label  # not NaN
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res, runs=("batch 64, lr 0.1", "batch 64, lr 0.3", "batch 1024, lr 0.1"))


def test_bad_batch_sizes_are_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--batch-sizes", "1024", "64"], r"`--batch-sizes`.*Received: batch_sizes=\[1024, 64\]", tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    on_disk = _check_outputs(tmp_path, res)
    assert "batch 1024, lr 0.1, same steps" in on_disk["runs"]
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
