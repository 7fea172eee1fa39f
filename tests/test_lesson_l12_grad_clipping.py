"""lessons/l12_grad_clipping.py: quick run in-process under this backend; slow full run on embedded data."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "l12_grad_clipping"
FIGURES = {"clipping.png"}
RUNS = {"no clipping", "clipvalue=1", "clipnorm=1", "global_clipnorm=1"}


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
    assert set(on_disk["runs"]) == RUNS
    assert set(on_disk["metrics"]["first_non_finite"]) == RUNS
    assert on_disk["claims"] == res["claims"]
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)


@pytest.mark.parametrize("flag, value", [("--clip", "0"), ("--init-std", "-1"), ("--depth", "0")])
def test_bad_arguments_are_rejected_before_training(tmp_path, flag, value):
    name = flag[2:].replace("-", "_")
    with pytest.raises(ValueError, match=rf"`{flag}`.*Received: {name}={value}"):
        _lesson().main(["--quick", flag, value, "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [c for c in res["claims"] if not c["holds"]]
    assert not failed, failed
    assert res["metrics"]["first_non_finite"]["no clipping"]["epoch"] >= 1
