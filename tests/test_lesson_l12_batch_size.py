"""lessons/l12_batch_size.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l12_batch_size"
FIGURES = {"batch_size_curves.png", "sharpness_vs_lr.png"}


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res, runs=("batch 64, lr 0.1", "batch 1024, lr 0.1", "batch 64, lr 0.01", "batch 64, lr 0.3")):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 2
    assert all(isinstance(c["holds"], bool) and c["evidence"] for c in on_disk["claims"])
    assert {p.name for p in out.glob("*.png")} == FIGURES
    assert set(runs) <= set(on_disk["runs"])
    for label, r in on_disk["metrics"]["runs"].items():
        assert r["sharpness"] == r["sharpness"], label  # not NaN
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res, runs=("batch 64, lr 0.1", "batch 64, lr 0.3", "batch 1024, lr 0.1"))


def test_bad_batch_sizes_are_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"`--batch-sizes`.*Received: batch_sizes=\[1024, 64\]"):
        _lesson().main(["--quick", "--batch-sizes", "1024", "64", "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    assert "batch 1024, lr 0.1, same steps" in on_disk["runs"]
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
