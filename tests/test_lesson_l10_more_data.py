"""lessons/l10_more_data.py: quick run in-process under this backend; slow default run with its verdicts."""

import numpy as np
import pytest
from lesson_support import (run_lesson_namespace, assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results, record_and_compare_verdicts,
                            run_lesson)

NAME = "l10_more_data"
FIGURES = {"learning_curves_vs_n.png"}
MODELS = ("softmax regression", "MLP 256-128")


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=3, figures=FIGURES, exact_figures=True, png_magic=True)
    sizes = on_disk["metrics"]["sizes"]
    assert sizes == sorted(sizes) and len(sizes) >= 3
    assert_replicates(on_disk, {f"{m}, n={n}" for m in MODELS for n in sizes}, seeds)
    assert [(c["kind"], c["direction"], c["margin_name"]) for c in on_disk["claims"]] == [
        ("empirical", "less", "shrink"), ("empirical", "less", "shrink"), ("empirical", "greater", "overfit")]
    assert all(len(g) == len(sizes) for g in on_disk["metrics"]["gap_train_minus_val"].values())
    return on_disk


def _run_quick(out):
    """Run the lesson with ``--quick``; return its namespace (to reach its data pipeline or measures)."""
    return run_lesson_namespace(NAME, out, "--quick")


def test_quick(tmp_path):
    ns = _run_quick(tmp_path)
    res = ns["results"]
    on_disk = _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k" and res["dataset"]["mnist"]["sizes"]["val"] == 400
    # the batches stream from the subset's indices: full batches, only subset members, cycled and reshuffled
    data, batch, steps = ns["data"], ns["batch"], ns["steps"]
    idx = np.arange(0, 60, 3)  # 20 examples, fewer than one batch
    seq = ns["SubsetBatches"](data.x_train, data.y_train, idx, seed=0)
    assert len(seq) == steps
    xb, yb = seq[0]
    assert xb.shape == (batch, *data.x_train.shape[1:]) and np.array_equal(yb, data.y_train[seq.order[:batch]])
    assert set(seq.order[: steps * batch]) == set(idx) and len(seq.order) >= steps * batch
    first = seq.order.copy()
    seq.on_epoch_end()
    assert not np.array_equal(first, seq.order)
    # every fit has the lesson's epochs, whatever n
    lengths = {len(e["history"]["loss"]) for arm in on_disk["replicates"].values() for e in arm["per_seed"]}
    assert lengths == {on_disk["config"]["epochs"]}


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--sizes", "5", "50"], r"`--sizes`.*Received: sizes=\[5, 50\]"),
    (["--quick", "--sizes", "100"], r"`--sizes`.*Received: sizes=\[100\]"),
    (["--quick", "--hidden", "0"], r"`--hidden`.*Received: hidden=\[0\]"),
    (["--quick", "--batch-size", "0"], r"`--batch-size`.*Received: batch_size=0"),
    (["--quick", "--seeds", "0"], r"`--seeds`.*Received: seeds=0"),
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
