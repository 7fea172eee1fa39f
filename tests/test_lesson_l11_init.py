"""lessons/l11_init.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l11_init"
FIGURES = {"std_per_layer_tanh.png", "std_per_layer_relu.png", "zero_init_weights.png", "tiny_vs_kaiming.png"}
INITS = ("N(0, 0.01)", "Glorot", "He", "LeCun")


def _arms(depth):
    return ({"zeros, ReLU", "zeros, sigmoid", "Glorot, sigmoid", "N(0, 0.001)", "Kaiming uniform"}
            | {f"{depth}-layer {act}, {name}" for act in ("tanh", "relu") for name in INITS})


def _check_outputs(out, res, seeds, depth):
    on_disk = check_results(out, res, NAME, n_claims=9, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, _arms(depth), seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["exact"] * 2 + ["empirical"] * 7
    assert [(c["direction"], c["margin_name"]) for c in on_disk["claims"][2:]] == [
        ("agree", "keep"), ("less", "collapse"), ("agree", "keep"), ("agree", "keep"), ("less", "collapse"),
        ("agree", "halve"), ("greater", "stall")]
    assert len(on_disk["references"]) == 3 and len(on_disk["demonstrations"]) == 1
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res, seeds=2, depth=4)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    assert res["dataset"]["mnist"]["name"] == "mnist5k"
    assert all(r["outcome"] == "not comparable" for r in res["references"])
    # the zero-init nets: ReLU's hidden weights never move, sigmoid's move in lock-step, Glorot's units differ
    reps = res["replicates"]
    moved = {arm: [e["numbers"]["hidden_weight_change"] for e in reps[arm]["per_seed"]]
             for arm in ("zeros, ReLU", "zeros, sigmoid")}
    assert all(v == 0.0 for v in moved["zeros, ReLU"]) and all(v > 0 for v in moved["zeros, sigmoid"])
    assert all(e["numbers"]["unit_spread"] > 0.01 for e in reps["Glorot, sigmoid"]["per_seed"])


@pytest.mark.parametrize("argv, env_args, match", [
    (["--quick", "--depth", "1"], None, r"`--depth`.*Received: depth=1"),
    (["--quick", "--width", "0"], None, r"`--width`.*Received: width=0"),
    (["--quick", "--learning-rate", "-1"], None, r"`--learning-rate`.*Received: learning_rate=-1.0"),
    (["--quick", "--zero-epochs", "0"], None, r"`--zero-epochs`.*Received: zero_epochs=0"),
    (["--quick", "--seeds", "0"], None, r"`--seeds`.*Received: seeds=0"),
    (["--quick", "--margin", "keep=-1"], None, r"`--margin`.*Received: margin='keep=-1'"),
    (["--quick"], "--stall-epochs 3", r"`--stall-epochs` \(from \$KREG_ARGS\)"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, env_args, match):
    assert_bad_flag(NAME, argv, match, tmp_path, env_args=env_args)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5, depth=10)
    record_and_compare_verdicts(res)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=5)
