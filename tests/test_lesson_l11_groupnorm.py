"""lessons/l11_groupnorm.py: quick mode under every backend; the default setting's claims (slow)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = "l11_groupnorm"
FIGURES = ("error_vs_batch_size",)


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


# estimate_batchnorm_statistics must call its feature models with the structure they were built on
@pytest.mark.filterwarnings("error:The structure of `inputs` doesn't match")
def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)


@pytest.mark.slow
def test_default_setting_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    failed = [c["claim"] + ": " + c["evidence"] for c in on_disk["claims"] if not c["holds"]]
    assert not failed, failed


@pytest.mark.parametrize("flag, value, name", [("--batch-sizes", "1", "batch_sizes"), ("--groups", "3", "groups"),
                                               ("--base-lr", "0", "base_lr"), ("--min-steps", "0", "min_steps"),
                                               ("--dense-units", "6", "groups")])
def test_bad_flags_are_rejected(tmp_path, flag, value, name):
    with pytest.raises(ValueError, match=name):
        _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0", flag, value])
