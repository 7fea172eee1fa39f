"""lessons/l10_dropconnect.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_replicates, assert_notebook_style, assert_bad_flag, assert_quick_decides_nothing, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_dropconnect"
FIGURES = {"learning_curves.png", "accuracy_gap.png", "inference.png"}
ARMS = {"no regularization", "dropout 0.5", "DropConnect 0.5", "DropConnect 0.5: inference rules"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["empirical"] * 3
    assert [c["margin_name"] for c in on_disk["claims"]] == ["gap", "gap", "closer"]
    assert len(on_disk["references"]) == 2 and len(on_disk["demonstrations"]) == 2
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"
    # every seed measured both inference rules against the Monte-Carlo average
    for entry in on_disk["replicates"]["DropConnect 0.5: inference rules"]["per_seed"]:
        numbers = entry["numbers"]
        assert {"tv_mean", "tv_gaussian", "hidden_mean", "hidden_gaussian"} <= set(numbers)
        assert numbers["hidden_mean"] > 0 and numbers["hidden_gaussian"] > 0


@pytest.mark.parametrize("argv, env_args, match", [
    (["--quick", "--rate", "1.0"], None, r"`--rate`.*Received: rate=1.0"),
    (["--quick", "--mc-samples", "0"], None, r"`--mc-samples`.*Received: mc_samples=0"),
    (["--quick", "--batch-size", "0"], None, r"`--batch-size`.*Received: batch_size=0"),
    (["--quick", "--mask", "unit"], None, r"`--mask`"),
    (["--quick", "--seeds", "0"], None, r"`--seeds`.*Received: seeds=0"),
    (["--quick", "--margin", "closer=-1"], None, r"`--margin`.*Received: margin='closer=-1'"),
    (["--quick"], "--drop-rate 0.3", r"`--drop-rate` \(from \$KREG_ARGS\)"),
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
