"""lessons/l10_smoothness.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (run_lesson_namespace, assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_smoothness"
FIGURES = {"decision_boundary.png", "polynomial.png"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=1, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, {"no penalty", "L2, deck 000's λ=1"}, seeds)
    claim = on_disk["claims"][0]
    assert (claim["kind"], claim["direction"], claim["margin_name"], claim["unit"]) == (
        "empirical", "less", "shorter", "ratio")
    assert len(on_disk["demonstrations"]) == 2
    return on_disk


def _run_quick(out):
    """Run the lesson with ``--quick``; return its namespace (to reach its data pipeline or measures)."""
    return run_lesson_namespace(NAME, out, "--quick")


def test_quick(tmp_path):
    import keras
    import numpy as np

    ns = _run_quick(tmp_path)
    res = ns["results"]
    on_disk = _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    # deck 000's λ/n with n = the 100 training points
    assert on_disk["config"]["keras_l2"] == pytest.approx(0.01)
    # Bishop: least squares interpolates the 10 points; the penalty shrinks the coefficients (ridge theorem)
    poly = on_disk["metrics"]["polynomial"]
    plain, penalized = poly["ln λ = −∞ (least squares)"], poly["ln λ = -18"]
    assert plain["train_rms"] < 1e-3 and penalized["coef_norm"] < plain["coef_norm"]
    # the length measure on a known boundary: a net whose p = 0.5 set is the vertical line x1 = 0
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    net.set_weights([np.array([[-1.0, 1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    _, length = ns["boundary"](net)
    assert length == pytest.approx(ns["gy"].max() - ns["gy"].min(), rel=1e-3)


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--lambda", "0"], r"`--lambda`"),
    (["--quick", "--degree", "40"], r"`--degree`"),
    (["--quick", "--dataset", "mnist"], r"`--dataset`"),
    (["--quick", "--margin", "shorter=-1"], r"`--margin`"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5)
    record_and_compare_verdicts(res)
