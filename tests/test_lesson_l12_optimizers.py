"""lessons/l12_optimizers.py: quick run in-process under this backend; slow default run with its verdicts."""

import pytest
from lesson_support import (assert_bad_flag, assert_each_outcome_reachable, assert_notebook_style,
                            assert_quick_decides_nothing, assert_replicates, check_results,
                            record_and_compare_verdicts, run_lesson)

NAME = "l12_optimizers"
FIGURES = {"ravine_trajectories.png", "training_curves.png"}
ALL = ("SGD", "momentum", "NAG", "AdaGrad", "Adadelta", "RMSProp", "Adam", "AdamW")
QUICK = ("SGD", "Adam")
DECK_LR = {"SGD": 0.1, "momentum": 0.01, "NAG": 0.01, "AdaGrad": 0.01, "Adadelta": 1.0, "RMSProp": 0.001,
           "Adam": 0.001, "AdamW": 0.001}


def _arms(names):
    return {f"{n} lr={DECK_LR[n] * g:.3g}" for n in names for g in (10**-0.5, 1.0, 10**0.5, 10.0, 10**1.5)}


def _check_outputs(out, res, names, seeds):
    n_claims = 3 if len(names) == len(ALL) else 1  # --quick trains SGD and Adam: only Adam's claim
    on_disk = check_results(out, res, NAME, n_claims=n_claims, figures=FIGURES, exact_figures=True, png_magic=True)
    assert_replicates(on_disk, _arms(names), seeds)
    assert [c["kind"] for c in on_disk["claims"]] == ["empirical"] * n_claims
    assert set(on_disk["metrics"]["chosen_learning_rate"]) == set(names)
    assert len(on_disk["demonstrations"]) == 3
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, QUICK, seeds=2)
    assert_quick_decides_nothing(res)
    assert_each_outcome_reachable(res)
    ravine = on_disk["metrics"]["ravine"]
    assert set(ravine) == set(ALL) - {"AdamW"}  # AdamW equals Adam on the ravine (no weight decay there)
    # ηλ_max = 1.9: SGD's steep coordinate flips sign at every step (the zig-zag); momentum crosses far less often
    assert ravine["SGD"]["sign_flips_w2"] == 60
    assert ravine["momentum"]["sign_flips_w2"] < 20 and ravine["NAG"]["sign_flips_w2"] < 20
    assert ravine["momentum"]["travel_across"] < ravine["SGD"]["travel_across"] / 2
    # the learning rate set after the reset really acts: the three rates of one model train differently
    reps = on_disk["replicates"]
    first = [reps[f"Adam lr={0.001 * g:.3g}"]["per_seed"][0]["numbers"]["loss_epoch1"] for g in (10**-0.5, 10**0.5)]
    assert abs(first[0] - first[1]) > 1e-4, first
    assert all(r["outcome"] == "not comparable" for r in on_disk["references"])


@pytest.mark.parametrize("argv, match", [
    (["--quick", "--eta-lambda", "2.5"], r"`--eta-lambda`.*Received: eta_lambda=2.5"),
    (["--quick", "--steps", "1"], r"`--steps`.*Received: steps=1"),
    (["--quick", "--batch-size", "0"], r"`--batch-size`.*Received: batch_size=0"),
    (["--quick", "--margin", "faster=-1"], r"`--margin`.*Received: margin='faster=-1'"),
])
def test_bad_flags_are_rejected_before_training(tmp_path, argv, match):
    assert_bad_flag(NAME, argv, match, tmp_path)


def test_reads_as_a_notebook():
    assert_notebook_style(NAME, min_cells=5)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res, ALL, seeds=5)
    record_and_compare_verdicts(res)
