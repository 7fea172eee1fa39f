"""lessons/l12_lr_schedules.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l12_lr_schedules"
FIGURES = {"lr_and_val_loss.png"}


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 1
    assert all(isinstance(c["holds"], bool) and c["evidence"] for c in on_disk["claims"])
    assert {p.name for p in out.glob("*.png")} == FIGURES
    assert len(on_disk["runs"]) == 5 and "constant" in on_disk["runs"]
    for label, r in on_disk["runs"].items():
        assert len(r["history"]["epoch_lr"]) == r["epochs"], label
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    runs = on_disk["runs"]
    assert len(set(runs["constant"]["history"]["epoch_lr"])) == 1  # the constant rate stays put
    exp = [r for lab, r in runs.items() if lab.startswith("ExponentialDecay (")][0]["history"]["epoch_lr"]
    assert exp[1] < exp[0]  # the exponential schedule decays from epoch to epoch


def test_bad_factor_is_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"`--factor`.*Received: factor=1.5"):
        _lesson().main(["--quick", "--factor", "1.5", "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
