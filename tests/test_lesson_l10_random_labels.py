"""lessons/l10_random_labels.py: quick run in-process under this backend; slow default run with its verdicts."""

import numpy as np
import pytest
from lesson_support import (run_lesson_namespace, assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_random_labels"
FIGURES = {"random_labels.png"}
BASE = {"true labels", "random labels", "random labels + weight decay 0.0005", "random labels + random crop ±2px"}
SWEEP = {f"random labels + weight decay {lam:g}" for lam in (1e-5, 1e-4, 1e-3, 3e-3, 1e-2)}
CLAIMS = [("agree", "fit"), ("agree", "chance"), ("greater", "longer"), ("agree", "fit"), ("greater", "slows"),
          ("agree", "fit")]


def _check_outputs(out, res, arms, seeds):
    on_disk = check_results(out, res, NAME, n_claims=len(CLAIMS), figures=FIGURES, exact_figures=True,
                            png_magic=True)
    assert_replicates(on_disk, arms, seeds)
    assert [(c["direction"], c["margin_name"]) for c in on_disk["claims"]] == CLAIMS
    assert len(on_disk["demonstrations"]) == 1 and "weight-decay sweep" in on_disk["demonstrations"][0]["text"]
    for arm in arms:  # FitTracker's inference-mode training accuracy, every epoch
        for rep in on_disk["replicates"][arm]["per_seed"]:
            assert len(rep["history"]["fit_accuracy"]) == len(rep["history"]["loss"])
            assert 1 <= rep["numbers"]["epochs"] <= res["config"]["epochs"]
    return on_disk


def _run_quick(out):
    """Run the lesson with ``--quick``; return its namespace (to reach its data pipeline or measures)."""
    return run_lesson_namespace(NAME, out, "--quick")


def test_quick(tmp_path):
    ns = _run_quick(tmp_path)
    res = ns["results"]
    _check_outputs(tmp_path, res, BASE | {"random labels + weight decay 0.01"}, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    # the random crop: a shifted window of the zero-padded digit, a new offset at every draw
    data = ns["data"]
    cropped = ns["Cropped"](data.y_train, 3, 2)
    (x1, y1), (x2, _) = cropped[0], cropped[0]
    assert x1.shape[1:] == data.x_train.shape[1:] and not np.allclose(x1, x2)
    assert np.array_equal(y1, data.y_train[cropped.order[:len(y1)]])
    kept, whole = x1.sum(axis=(1, 2, 3)), data.x_train[cropped.order[:len(y1)]].sum(axis=(1, 2, 3))
    assert np.all(kept <= whole + 1e-3) and np.mean(np.isclose(kept, whole, atol=1e-3)) > 0.8  # MNIST's empty border


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--weight-decay", "-1"], r"`--weight-decay`.*Received: weight_decay=-1"),
    (["--quick", "--crop", "0"], r"`--crop`.*Received: crop=0"),
    (["--quick", "--fit-threshold", "1.5"], r"`--fit-threshold`.*Received: fit_threshold=1.5"),
    (["--quick", "--n-train", "5"], r"`--n-train`.*Received: n_train=5"),
    (["--quick", "--margin", "fit=-0.1"], r"`--margin`.*Received: margin='fit=-0.1'"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, BASE | SWEEP, seeds=3)
    record_and_compare_verdicts(res)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)
