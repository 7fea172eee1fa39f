"""lessons/l11_batchnorm.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l11_batchnorm"
FIGURES = {"learning_rates.png", "scale_invariance.png"}
ARMS = {f"{bn}, lr {lr}" for bn in ("BN", "no BN") for lr in ("0.01", "0.1", "1")} | {"BN, N(0, 0.001) init, lr 0.1"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=6, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["exact", "exact", "empirical", "empirical", "exact", "exact"]
    assert [(c["direction"], c["margin_name"]) for c in on_disk["claims"] if c["kind"] == "empirical"] == [
        ("greater", "benefit"), ("agree", "benefit")]
    assert len(on_disk["references"]) == 2 and len(on_disk["demonstrations"]) == 3
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"
    assert all(r["outcome"] == "not comparable" for r in res["references"])


@pytest.mark.parametrize("argv, env_args, match", [
    (["--quick", "--learning-rates", "0", "0.1"], None, r"`--learning-rates`.*Received: learning_rates=\[0.0, 0.1\]"),
    (["--quick", "--learning-rates", "0.1"], None, r"`--learning-rates`.*at least two"),
    (["--quick", "--scales", "-2"], None, r"`--scales`.*Received: scales=\[-2.0\]"),
    (["--quick", "--batch-size", "1"], None, r"`--batch-size`.*Received: batch_size=1"),
    (["--quick", "--seeds", "0"], None, r"`--seeds`.*Received: seeds=0"),
    (["--quick", "--margin", "benefit=-0.01"], None, r"`--margin`.*Received: margin='benefit=-0.01'"),
    (["--quick"], "--lr 0.3", r"`--lr` \(from \$KREG_ARGS\)"),
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
