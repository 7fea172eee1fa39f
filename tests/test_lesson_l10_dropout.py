"""lessons/l10_dropout.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l10_dropout"
FIGURES = {"learning_curves.png", "capacity.png", "mc_vs_weight_scaling.png"}


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
    assert set(on_disk["runs"]) >= {"no dropout", "dropout 0.5", "vanilla dropout 0.5"}
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    # the exact identity vanilla(W) == inverted((1-p) W) holds even after a quick run
    assert on_disk["metrics"]["vanilla_vs_rescaled_inverted_max_abs_logit_diff"] < 1e-4


def test_bad_rate_is_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"`--rate`.*Received: rate=1.5"):
        _lesson().main(["--quick", "--rate", "1.5", "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
