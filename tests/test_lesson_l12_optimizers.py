"""lessons/l12_optimizers.py: quick run in-process under this backend; slow full run on embedded data."""

import pytest
from lesson_support import assert_bad_flag, check_results, run_lesson, record_and_compare_verdicts

NAME = "l12_optimizers"
FIGURES = {"ravine_trajectories.png", "training_curves.png"}
OPTIMIZERS = {"SGD", "momentum", "NAG", "AdaGrad", "Adadelta", "RMSProp", "Adam", "AdamW"}


def _check_outputs(out, res, runs=OPTIMIZERS):
    on_disk = check_results(out, res, NAME, n_claims=2, figures=FIGURES, exact_figures=True)
    assert set(on_disk["runs"]) == set(runs)
    assert set(on_disk["metrics"]["surface_distance_to_optimum"]) == OPTIMIZERS
    return on_disk


def test_quick(tmp_path):
    res = run_lesson(NAME, tmp_path, "--quick")
    on_disk = _check_outputs(tmp_path, res, runs={"SGD", "momentum", "Adam"})  # --quick trains three
    # the ravine is deterministic: plain SGD contracts every coordinate, so it gets closer
    d = on_disk["metrics"]["surface_distance_to_optimum"]
    assert d["SGD"] < 9.2


def test_bad_surface_lr_is_rejected_before_training(tmp_path):
    assert_bad_flag(NAME, ["--quick", "--surface-lr", "0.5"], r"`--surface-lr`.*Received: surface_lr=0.5", tmp_path)


@pytest.mark.slow
def test_default_run_verdicts(tmp_path):
    res = run_lesson(NAME, tmp_path)
    _check_outputs(tmp_path, res)
    record_and_compare_verdicts(res)  # outcomes as lessons/verdicts.json records them, not 'all hold'
