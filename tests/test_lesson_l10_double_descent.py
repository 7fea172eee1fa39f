"""lessons/l10_double_descent.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results, record_and_compare_verdicts,
                            run_lesson)

NAME = "l10_double_descent"
FIGURES = {"double_descent.png"}


def _check_outputs(out, res, seeds, widths):
    # with one seed (--quick) the interval is NaN, written as "nan": compare the claims' other keys
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True, png_magic=True,
                            claim_keys=("claim", "kind", "outcome", "effect", "direction", "margin", "evidence"))
    assert_replicates(on_disk, {f"MLP 40-h-10, {len(widths)} widths side by side"}, seeds)
    assert [(c["kind"], c["direction"], c["margin_name"]) for c in on_disk["claims"]] == [
        ("empirical", "greater", "peak"), ("empirical", "greater", "peak"), ("empirical", "greater", "loss_peak")]
    assert [int(w) for w in on_disk["metrics"]["per_width"]] == list(widths)
    points = on_disk["metrics"]["widths"]
    assert points["min"] <= points["thr"] and points["wide"] == widths[-1]
    # the test set is MNIST-1D's 1,000 test sequences plus the training sequences never trained on
    cfg = on_disk["config"]
    assert cfg["n_val"] == 1000 and cfg["n_test"] == 1000 + 3000 - cfg["n_train"]
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, seeds=1, widths=(2, 8, 32, 128))
    assert on_disk["config"]["quick"] is True
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)


def test_seeds_draw_different_initial_weights(tmp_path):
    """One compiled model for every seed, yet each seed starts from its own weights (and seeds reproduce)."""
    res = run_lesson(NAME, tmp_path, "--quick", "--seeds", "2", "--widths", "4", "16", "64")
    losses = [e["history"]["loss"] for e in res["replicates"]["MLP 40-h-10, 3 widths side by side"]["per_seed"]]
    assert losses[0] != losses[1]
    again = run_lesson(NAME, tmp_path / "again", "--quick", "--seeds", "1", "--widths", "4", "16", "64", "--no-cache")
    assert again["replicates"]["MLP 40-h-10, 3 widths side by side"]["per_seed"][0]["history"]["loss"] == losses[0]


@pytest.mark.parametrize("argv, match", [
    (["--label-noise", "1.5"], r"`--label-noise`.*Received: label_noise=1.5"),
    (["--widths", "4", "0", "8"], r"`--widths`.*Received: widths=\[4, 0, 8\]"),
    (["--widths", "4", "4", "8"], r"`--widths`"),
    (["--n-train", "5000"], r"`--n-train`.*Received: n_train=5000"),
    (["--fit-tol", "1"], r"`--fit-tol`"),
    (["--seeds", "0"], r"`--seeds`.*Received: seeds=0"),
])
def test_bad_flags_are_rejected_before_training(argv, match, tmp_path):
    assert_bad_flag(NAME, ["--quick", *argv], match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=4)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=3, widths=(2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 512,
                                                    1024))
    record_and_compare_verdicts(res)
