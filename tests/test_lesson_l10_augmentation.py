"""lessons/l10_augmentation.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l10_augmentation"
FIGURES = {"augmented_samples.png", "learning_curves.png", "accuracy.png"}


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 2
    assert all(isinstance(c["holds"], bool) and c["evidence"] for c in on_disk["claims"])
    assert {p.name for p in out.glob("*.png")} == FIGURES
    assert set(on_disk["runs"]) == {"no augmentation", "augmentation"}
    for label in ("no augmentation", "augmentation"):
        assert 0.0 <= on_disk["metrics"][label]["test"] <= 1.0
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)


def test_bad_rotation_is_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"`--rotation`.*Received: rotation=200"):
        _lesson().main(["--quick", "--rotation", "200", "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()
    with pytest.raises(ValueError, match=r"`--upsample`.*Received: upsample=3"):
        _lesson().main(["--quick", "--upsample", "3", "--out", str(tmp_path), "--verbose", "0"])


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    assert res["config"]["upsampled_to"] == 28 and res["config"]["n_train"] == 100
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
