"""lessons/l10_l1_vs_l2.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_l1_vs_l2"
FIGURES = {"sparsity.png"}


def _check_outputs(out, res, seeds, grids):
    on_disk = check_results(out, res, NAME, n_claims=1, figures=FIGURES, exact_figures=True, png_magic=True)
    arms = {"no penalty"} | {f"{name} λ={lam:g}" for name, grid in grids.items() for lam in grid}
    assert_replicates(on_disk, arms, seeds)
    claim = on_disk["claims"][0]
    assert (claim["kind"], claim["direction"], claim["margin_name"]) == ("empirical", "greater", "sparser")
    matched = on_disk["metrics"]["matched"]
    for name, grid in grids.items():
        # the matched strength lies on the penalty's own grid (interpolated between two neighbours at most)
        assert min(grid) * 0.999 <= matched[name]["lambda"] <= max(grid) * 1.001, matched
        assert abs(sum(matched[name]["weights"].values()) - 1) < 1e-9 and len(matched[name]["weights"]) <= 2
    assert len(on_disk["demonstrations"]) == 1
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res, seeds=2, grids={"L2": (3e-4, 3e-2), "L1": (1e-5, 1e-3)})
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--l1-lambdas", "1e-4"], r"`--l1-lambdas`.*at least two"),
    (["--quick", "--l2-lambdas", "0", "1e-3"], r"`--l2-lambdas`"),
    (["--quick", "--cost", "1.5"], r"`--cost`"),
    (["--quick", "--zero-tol", "0"], r"`--zero-tol`"),
    (["--quick", "--margin", "sparser=-1"], r"`--margin`"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=3, grids={"L2": (3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
                                                   "L1": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)})
    record_and_compare_verdicts(res)
