"""lessons/l12_grad_clipping.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l12_grad_clipping"
FIGURES = {"clipping.png"}
ARMS = {"no clipping", "clipvalue=100 (deck 001)", "clipvalue=1", "clipnorm=1", "global_clipnorm=1"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=5, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    assert [(c["kind"], c["direction"], c["margin_name"]) for c in on_disk["claims"]] == [
        ("empirical", "greater", "diverge")] + [("empirical", "greater", "learns")] * 4
    assert set(on_disk["metrics"]["fraction_diverged"]) == ARMS
    assert len(on_disk["demonstrations"]) == 1
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    # the large initialization is large: the unclipped net's logits start far above unit scale
    init = [e["numbers"]["init_logit_std"] for e in on_disk["replicates"]["no clipping"]["per_seed"]]
    assert min(init) > 10, init
    # per-step losses are recorded (one per optimizer step until a divergence stops the run)
    steps = on_disk["replicates"]["clipvalue=1"]["per_seed"][0]["numbers"]["step_losses"]
    assert len(steps) == 8, steps


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--clip", "0"], r"`--clip`.*Received: clip=0.0"),
    (["--quick", "--deck-clip", "-1"], r"`--deck-clip`.*Received: deck_clip=-1.0"),
    (["--quick", "--init-std", "-1"], r"`--init-std`.*Received: init_std=-1.0"),
    (["--quick", "--depth", "0"], r"`--depth`.*Received: depth=0"),
    (["--quick", "--margin", "learns=-0.1"], r"`--margin`.*Received: margin='learns=-0.1'"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=10)
    record_and_compare_verdicts(res)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)
