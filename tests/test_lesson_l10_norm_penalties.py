"""lessons/l10_norm_penalties.py: quick run under every backend, default run (slow) checks the claims."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = "l10_norm_penalties"
FIGURES = ("l2_sweep", "sparsity", "decision_boundary", "polynomial")


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 6
    for claim in on_disk["claims"]:
        assert isinstance(claim["holds"], bool) and claim["evidence"]
    assert res["claims"] == on_disk["claims"]
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    # the L2 = weight-decay identity is exact arithmetic, so it holds even in quick mode
    assert on_disk["claims"][0]["holds"], on_disk["claims"][0]
    assert on_disk["metrics"]["logreg_max_abs_diff_manual_vs_weight_decay"] < 1e-5


@pytest.mark.parametrize("argv, match", [
    (["--lambdas", "0"], "--lambdas"),
    (["--sparsity-tol", "-1"], "--sparsity-tol"),
    (["--degree", "40"], "--degree"),
    (["--dataset", "sine"], "--dataset"),
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
