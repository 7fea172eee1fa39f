"""lessons/l10_dropconnect.py: quick run under every backend, default run (slow) checks the claims."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = "l10_dropconnect"
FIGURES = ("learning_curves", "accuracy_gap", "inference")


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 2
    for claim in on_disk["claims"]:
        assert isinstance(claim["holds"], bool) and claim["evidence"]
    assert res["claims"] == on_disk["claims"]
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    inf = on_disk["metrics"]["inference"]
    assert inf["tv_to_mc"]["mean weights"] >= 0 and inf["accuracy"]


@pytest.mark.parametrize("argv, match", [
    (["--rate", "1.0"], "--rate"),
    (["--mc-samples", "0"], "--mc-samples"),
    (["--batch-size", "0"], "--batch-size"),
])
def test_bad_arguments_fail_before_training(tmp_path, argv, match):
    with pytest.raises(ValueError, match=match):
        _lesson().main([*argv, "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
