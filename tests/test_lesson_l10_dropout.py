"""lessons/l10_dropout.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_replicates, assert_notebook_style, assert_bad_flag, assert_quick_decides_nothing, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l10_dropout"
FIGURES = {"learning_curves.png", "capacity.png", "train_loss_vanilla.png", "mc_vs_weight_scaling.png"}
ARMS = {"no dropout", "dropout 0.5", "bigger 512-256", "bigger + dropout 0.5", "vanilla dropout 0.5",
        "vanilla dropout 0.5, lr x1/(1-p)^2 after dropout", "softmax regression + input dropout",
        "dropout 0.5: Monte-Carlo masks"}


def _check_outputs(out, res, seeds):
    on_disk = check_results(out, res, NAME, n_claims=5, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, ARMS, seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["empirical", "exact", "empirical", "empirical", "empirical"]
    assert len(on_disk["references"]) == 2 and len(on_disk["demonstrations"]) == 2
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    _check_outputs(tmp_path, res, seeds=2)
    assert_quick_decides_nothing(res)
    # the offline data are real 28x28 MNIST digits, and the test set is fixed
    assert res["dataset"]["mnist"]["name"] == "mnist5k" and res["dataset"]["mnist"]["sizes"]["test"] == 1000
    assert all(r["outcome"] == "not comparable" for r in res["references"])
    # the per-layer learning rate really acts: same seeds, weights, masks and data, different training
    reps = res["replicates"]
    def mean_loss(arm):
        values = [e["numbers"]["train_loss"] for e in reps[arm]["per_seed"]]
        return [v["mean"] if isinstance(v, dict) else sum(v) / len(v) for v in values]

    plain, scaled = mean_loss("vanilla dropout 0.5"), mean_loss("vanilla dropout 0.5, lr x1/(1-p)^2 after dropout")
    assert all(abs(a - b) > 1e-6 for a, b in zip(plain, scaled)), (plain, scaled)


def test_flags_from_kreg_args_reach_the_lesson(tmp_path):
    # KREG_ARGS is how a notebook passes flags; the command line's flags come after it and win
    assert_bad_flag(NAME, [], r"`--rate`.*Received: rate=2.0", tmp_path, env_args="--quick --rate 2")
    assert_bad_flag(NAME, ["--rate", "3"], r"Received: rate=3.0", tmp_path, env_args="--quick --rate 0.5")


@pytest.mark.parametrize("argv, env_args, match", [
    (["--quick", "--rate", "1.5"], None, r"`--rate`.*Received: rate=1.5"),
    (["--quick", "--seeds", "0"], None, r"`--seeds`.*Received: seeds=0"),
    (["--quick", "--margin", "gap=-0.01"], None, r"`--margin`.*Received: margin='gap=-0.01'"),
    (["--quick"], "--dropout-rate 0.3", r"`--dropout-rate` \(from \$KREG_ARGS\)"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, env_args, match):
    assert_bad_flag(NAME, argv, match, tmp_path, env_args=env_args)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, seeds=5)
    record_and_compare_verdicts(res)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=5)
