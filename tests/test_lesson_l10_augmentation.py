"""lessons/l10_augmentation.py: quick run in-process under this backend; slow default run with its verdicts."""

import numpy as np
import pytest
from lesson_support import (run_lesson_namespace, assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_augmentation"
FIGURES = {"augmented_samples.png", "learning_curves.png", "accuracy.png"}
ARMS = {"no augmentation", "augmentation"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=2, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    assert [(c["kind"], c["direction"], c["margin_name"]) for c in on_disk["claims"]] == [
        ("empirical", "greater", "gap"), ("empirical", "greater", "gain")]
    for arm in ARMS:  # the validation split is monitored, the test set is not
        history = on_disk["replicates"][arm]["per_seed"][0]["history"]
        assert "val_accuracy" in history and len(history["val_accuracy"]) == res["config"]["epochs"]
    return on_disk


def _run_quick(out):
    """Run the lesson with ``--quick``; return its namespace (to reach its data pipeline or measures)."""
    return run_lesson_namespace(NAME, out, "--quick")


def test_quick(tmp_path):
    ns = _run_quick(tmp_path)
    res = ns["results"]
    _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"
    # the augmentation runs in the data pipeline: the same order in both arms, new views at every step
    batches, y = ns["Batches"], ns["data"].y_train
    plain, augmented = batches(7, False), batches(7, True)
    assert np.array_equal(plain.order, augmented.order)
    x0, y0 = plain[0]
    x1, y1 = augmented[0]
    x2, _ = augmented[0]
    assert np.array_equal(y0, y1) and np.array_equal(y0, y[plain.order[:len(y0)]])
    assert x1.shape == x0.shape and not np.allclose(x1, x0) and not np.allclose(x1, x2)
    # with no rotation and no shift the jitter is the identity
    jitter, args = ns["jitter"], ns["args"]
    saved = args.rotation, ns["pad"]
    args.rotation = 0.0
    ns["jitter"].__globals__["pad"] = 0
    try:
        assert np.allclose(jitter(x0, np.random.default_rng(0)), x0, atol=1e-6)
    finally:
        args.rotation = saved[0]
        ns["jitter"].__globals__["pad"] = saved[1]


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--rotation", "200"], r"`--rotation`.*Received: rotation=200"),
    (["--quick", "--n-train", "5"], r"`--n-train`.*Received: n_train=5"),
    (["--quick", "--dataset", "digits"], r"`--dataset`.*Received: dataset='digits'"),
    (["--quick", "--lr", "0"], r"`--lr`.*Received: lr=0"),
    (["--quick", "--margin", "gain=-1"], r"`--margin`.*Received: margin='gain=-1'"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=4)
    assert res["config"]["n_train"] == 1000
    record_and_compare_verdicts(res)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)
