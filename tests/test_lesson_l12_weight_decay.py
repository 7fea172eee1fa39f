"""lessons/l12_weight_decay.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l12_weight_decay"
FIGURES = {"sgd_vs_adam_equivalence.png", "adam_l2_vs_adamw.png"}
SGD_ARM = "SGD: L2(λ/2), weight_decay=λ, L2(λ) at λ=0.01"


def _arms(lams):
    return {SGD_ARM, "Adam, no decay"} | {f"{m} λ={v:g}" for v in lams for m in ("Adam + L2", "AdamW")}


def _check_outputs(out, res, lams, seeds):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, _arms(lams), seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["exact", "empirical", "empirical"]
    assert len(on_disk["demonstrations"]) == 2
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, (0.1, 1.0), seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    # the SGD identity is exact arithmetic: it holds after a few steps already, and the mapping without
    # the ½ is caught by the tolerance
    per_seed = on_disk["replicates"][SGD_ARM]["per_seed"]
    assert all(e["numbers"]["rel_diff"] < 1e-4 < e["numbers"]["rel_diff_without_half"] for e in per_seed)
    # Adam + L2 and AdamW differ far beyond the SGD round-off
    assert all(d > 1e-3 for d in on_disk["metrics"]["adam_rel_weight_diff_l2_vs_adamw"].values())
    # the non-inferiority claim is the difference shifted by its margin, decided against 0
    better, no_worse = on_disk["claims"][1:]
    assert no_worse["margin"] == 0.0 and abs(no_worse["effect"] - better["effect"] - 0.01) < 1e-12
    assert all(r["outcome"] == "not comparable" for r in on_disk["references"])


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--lams", "0.01", "-1"], r"`--lams`.*Received: lams=\[0.01, -1.0\]"),
    (["--quick", "--lam", "0"], r"`--lam`.*Received: lam=0.0"),
    (["--quick", "--sgd-steps", "0"], r"`--sgd-steps`.*Received: sgd_steps=0"),
    (["--quick", "--margin", "no_worse=-0.01"], r"`--margin`.*Received: margin='no_worse=-0.01'"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, (0.001, 0.01, 0.1, 1.0), seeds=5)
    record_and_compare_verdicts(res)
