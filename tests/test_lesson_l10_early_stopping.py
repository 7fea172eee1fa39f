"""lessons/l10_early_stopping.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l10_early_stopping"
FIGURES = {"early_stopping_curves.png", "reuse_validation_data.png", "test_accuracy.png"}


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 3
    assert all(isinstance(c["holds"], bool) and c["evidence"] for c in on_disk["claims"])
    assert {p.name for p in out.glob("*.png")} == FIGURES
    assert set(on_disk["runs"]) == {"early stopping", "refit (1): fresh on train+val, best #epochs",
                                    "refit (2): continue on train+val until val loss < train loss at stop"}
    m = on_disk["metrics"]
    assert 1 <= m["best_epoch"] <= m["epochs_run"]
    assert m["refit1_fresh"]["epochs"] == m["best_epoch"]
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)


def test_bad_label_noise_is_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"`--label-noise`.*Received: label_noise=1.5"):
        _lesson().main(["--quick", "--label-noise", "1.5", "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
