"""lessons/l12_optimizers.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l12_optimizers"
FIGURES = {"ravine_trajectories.png", "training_curves.png"}
OPTIMIZERS = {"SGD", "momentum", "NAG", "AdaGrad", "Adadelta", "RMSProp", "Adam", "AdamW"}


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res, runs=OPTIMIZERS):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 2
    assert all(isinstance(c["holds"], bool) and c["evidence"] for c in on_disk["claims"])
    assert {p.name for p in out.glob("*.png")} == FIGURES
    assert set(on_disk["runs"]) == set(runs)
    assert set(on_disk["metrics"]["surface_distance_to_optimum"]) == OPTIMIZERS
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res, runs={"SGD", "momentum", "Adam"})  # --quick trains three
    # the ravine is deterministic: plain SGD contracts every coordinate, so it gets closer
    d = on_disk["metrics"]["surface_distance_to_optimum"]
    assert d["SGD"] < 9.2


def test_bad_surface_lr_is_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"`--surface-lr`.*Received: surface_lr=0.5"):
        _lesson().main(["--quick", "--surface-lr", "0.5", "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
