"""lessons/l11_batchnorm.py: quick mode under every backend; the default setting's claims (slow)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = "l11_batchnorm"
FIGURES = ("learning_rates", "scale_invariance")


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert on_disk["claims"], "the lesson records its claims"
    for claim in on_disk["claims"]:
        assert isinstance(claim["holds"], bool), claim
        assert claim["evidence"]
    for fig in FIGURES:
        assert (out / f"{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    assert res["claims"] == on_disk["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)


@pytest.mark.slow
def test_default_setting_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    failed = [c["claim"] + ": " + c["evidence"] for c in on_disk["claims"] if not c["holds"]]
    assert not failed, failed


@pytest.mark.parametrize("flag, value, name", [("--learning-rates", "0", "learning_rates"),
                                               ("--scales", "-2", "scales"), ("--batch-size", "1", "batch_size")])
def test_bad_flags_are_rejected(tmp_path, flag, value, name):
    with pytest.raises(ValueError, match=name):
        _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0", flag, value])
