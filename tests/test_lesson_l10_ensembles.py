"""lessons/l10_ensembles.py: quick mode on every backend, the full default run (slow) checks the claims."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = "l10_ensembles"
FIGURES = ("ema_val_curve.png", "ensemble_size.png", "test_accuracy.png")


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert on_disk["claims"]
    assert [(c["claim"], c["holds"]) for c in on_disk["claims"]] == [(c["claim"], c["holds"]) for c in res["claims"]]
    for claim in on_disk["claims"]:
        assert isinstance(claim, dict) and isinstance(claim["holds"], bool) and claim["evidence"]
    for fig in FIGURES:
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    return on_disk


def test_quick_run_writes_results_and_figures(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    assert on_disk["config"]["quick"] is True


@pytest.mark.parametrize("argv, flag", [[["--members", "1"], "--members"], [["--ema-decay", "1.0"], "--ema-decay"], [["--learning-rate", "0"], "--learning-rate"]])
def test_bad_lesson_flags_raise_before_training(argv, flag, tmp_path):
    with pytest.raises(ValueError, match=flag):
        _lesson().main([*argv, "--out", str(tmp_path), "--verbose", "0"])
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_default_run_claims_hold(tmp_path):
    res = _lesson().main(["--out", str(tmp_path), "--verbose", "0"])
    _check_outputs(tmp_path, res)
    failed = [f"{c['claim']} ({c['evidence']})" for c in res["claims"] if not c["holds"]]
    assert not failed, failed
