"""lessons/l10_noise.py: quick run under every backend, default run (slow) checks the claims."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAME = "l10_noise"
FIGURES = ("input_noise_ridge", "weight_noise_curves", "gap_and_confidence")


def _lesson():
    spec = importlib.util.spec_from_file_location(NAME, ROOT / "lessons" / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(out, res):
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == NAME
    assert len(on_disk["claims"]) == 3
    for claim in on_disk["claims"]:
        assert isinstance(claim["holds"], bool) and claim["evidence"]
    assert res["claims"] == on_disk["claims"]
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    return on_disk


def test_quick(tmp_path):
    res = _lesson().main(["--quick", "--out", str(tmp_path), "--verbose", "0"])
    on_disk = _check_outputs(tmp_path, res)
    a = on_disk["metrics"]["input_noise"]
    assert a["ridge_lambda"] == pytest.approx(a["sigma"] ** 2 * a["n"])


@pytest.mark.parametrize("argv, match", [
    (["--input-noise", "0"], "--input-noise"),
    (["--weight-noise", "-0.1"], "--weight-noise"),
    (["--label-smoothing", "1.5"], "--label-smoothing"),
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
