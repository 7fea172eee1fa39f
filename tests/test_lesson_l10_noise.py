"""lessons/l10_noise.py: quick run in-process under this backend; slow default run with its verdicts."""

import numpy as np
import pytest
from lesson_support import (run_lesson_namespace, assert_replicates, assert_notebook_style, assert_bad_flag, assert_quick_decides_nothing, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_noise"
FIGURES = {"input_noise_ridge.png", "weight_noise_curves.png", "calibration.png"}
ARMS = {"linear regression, input noise σ=0.5", "no noise", "weight noise σ=0.05", "label smoothing 0.1",
        "DisturbLabel α=0.1"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=4, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["empirical"] * 4
    assert [(c["direction"], c["margin_name"]) for c in on_disk["claims"]] == [
        ("agree", "ridge"), ("greater", "gap"), ("greater", "ece"), ("greater", "ece")]
    assert len(on_disk["demonstrations"]) == 1
    return on_disk


def _run_quick(out):
    """Run the lesson with ``--quick``; return its namespace (to reach its data pipeline or measures)."""
    return run_lesson_namespace(NAME, out, "--quick")


def test_quick(tmp_path):
    ns = _run_quick(tmp_path)
    res = ns["results"]
    _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"
    # DisturbLabel on the data side: the same order with and without it, about alpha (1 - 1/K) of the
    # labels changed, and new ones every epoch
    batches, y = ns["Batches"], ns["data"].y_train
    clean, noisy = batches(7), batches(7, disturb=0.5)
    assert np.array_equal(clean.order, noisy.order) and np.array_equal(clean.labels, y)
    first = noisy.labels.copy()
    assert 0.3 < np.mean(first != y) < 0.6  # 0.5 * 0.9 = 0.45 expected
    noisy.on_epoch_end()
    clean.on_epoch_end()
    assert not np.array_equal(first, noisy.labels) and np.array_equal(clean.order, noisy.order)
    x_batch, y_batch = batches(7, disturb=0.1, onehot=True)[0]
    assert y_batch.shape == (len(x_batch), 10) and np.allclose(y_batch.sum(axis=1), 1)


@pytest.mark.parametrize("argv, env_args, match", [
    (["--quick", "--input-noise", "0"], None, r"`--input-noise`.*Received: input_noise=0.0"),
    (["--quick", "--weight-noise", "-0.1"], None, r"`--weight-noise`.*Received: weight_noise=-0.1"),
    (["--quick", "--label-smoothing", "1.5"], None, r"`--label-smoothing`.*Received: label_smoothing=1.5"),
    (["--quick", "--disturb", "0"], None, r"`--disturb`.*Received: disturb=0.0"),
    (["--quick", "--seeds", "0"], None, r"`--seeds`.*Received: seeds=0"),
    (["--quick", "--margin", "ece=-0.01"], None, r"`--margin`.*Received: margin='ece=-0.01'"),
    (["--quick"], "--noise 0.3", r"`--noise` \(from \$KREG_ARGS\)"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, env_args, match):
    assert_bad_flag(NAME, argv, match, tmp_path, env_args=env_args)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5)
    record_and_compare_verdicts(res)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)
