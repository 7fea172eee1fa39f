"""lessons/l12_weight_decay.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l12_weight_decay"
FIGURES = {"sgd_vs_adam_equivalence.png", "adam_l2_vs_adamw.png"}


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
    assert {"SGD + L2(0.005)", "SGD weight_decay=0.01", "SGD, no penalty"} <= set(on_disk["runs"])
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    # the SGD equivalence is exact arithmetic: it holds after a few steps already
    assert on_disk["metrics"]["sgd_max_rel_weight_diff_l2_vs_decay"] < 1e-4


def test_bad_lams_are_rejected_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"`--lams`.*Received: lams=\[0.01, -1.0\]"):
        _lesson().main(["--quick", "--lams", "0.01", "-1", "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
