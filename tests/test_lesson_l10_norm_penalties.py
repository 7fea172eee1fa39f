"""lessons/l10_norm_penalties.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_norm_penalties"
FIGURES = {"l2_sweep.png"}


def _check_outputs(out, res, seeds, lambdas):
    on_disk = check_results(out, res, NAME, n_claims=4, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, {f"λ={v:g}" for v in (0.0, *lambdas)}, seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["exact", "exact", "empirical", "empirical"]
    assert [(c["direction"], c["margin_name"]) for c in on_disk["claims"][2:]] == [("less", "gap"),
                                                                                    ("less", "ce_gap")]
    assert len(on_disk["demonstrations"]) == 2
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, seeds=2, lambdas=(0.1, 10.0))
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    # the slide's λ reaches Keras as L2(λ/n), n the batch size (deck 000's λ/n Σw²)
    assert on_disk["config"]["keras_l2"] == {"0.1": 0.1 / 256, "10.0": 10.0 / 256}
    assert res["dataset"]["mnist"]["name"] == "mnist5k"


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--lambdas", "0", "1"], r"`--lambdas`"),
    (["--quick", "--lambdas", "1"], r"`--lambdas`.*at least two"),
    (["--quick", "--logreg-lambda", "-1"], r"`--logreg-lambda`"),
    (["--quick", "--batch-size", "0"], r"`--batch-size`"),
    (["--quick", "--margin", "gap=-1"], r"`--margin`"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=5)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5, lambdas=(0.1, 0.3, 1.0, 3.0, 10.0))
    record_and_compare_verdicts(res)
