"""Smoke test of the benchmarks: each runs in its tiny ``--quick`` setting under the current backend.

No timing is asserted (timings belong to ``make bench``); only that every
benchmark runs, returns its ratios, and that ``benchmarks/run.py`` can
tabulate them and write its JSON.
"""

import json
import math
import sys
from pathlib import Path

import keras
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import lesson_cost  # noqa: E402
import layers as bench_layers  # noqa: E402
import run as bench_run  # noqa: E402

BACKEND = keras.backend.backend()


def _finite(x):
    return isinstance(x, float) and math.isfinite(x) and x > 0


def test_layers_quick(tmp_path, capsys):
    out = tmp_path / "layers.json"
    res = bench_layers.main(["--quick", "--json", str(out)])
    assert res["backend"] == BACKEND
    labels = {row["a"] for row in res["archs"]["mlp"]["comparisons"]}
    assert labels == {a for a, *_ in bench_layers.COMPARISONS}
    for arch in res["archs"].values():
        for row in arch["comparisons"]:
            assert _finite(row["train"]["ratio"]) and _finite(row["infer"]["ratio"])
    assert res["archs"]["mlp"]["memory"]["analytic_mask_bytes"] == 16 * (784 * 75 + 75 * 45) * 4
    if BACKEND == "torch":
        assert _finite(res["torch_groupnorm"]["cnn"]["train"]["kreg_vs_torch"])
    assert json.loads(out.read_text())["benchmark"] == "layers"
    assert "PASS" in capsys.readouterr().out or "MISS" in bench_layers.table(res)

    path = bench_run.write_results("layers", {BACKEND: res}, settings={"quick": True}, out_dir=tmp_path)
    doc = json.loads(path.read_text())
    assert doc["device"] and doc["backends"][BACKEND]["versions"]["keras"] == keras.__version__
    assert path.name.startswith("layers-") and not list(tmp_path.glob("*.tmp"))
    assert BACKEND in bench_run.summarize("layers", {BACKEND: res}) or "GroupNorm" in bench_run.summarize(
        "layers", {BACKEND: res})


def test_lesson_cost_quick(tmp_path):
    res = lesson_cost.main(["--quick", "--json", str(tmp_path / "lesson.json")])
    rows = res["rows"]
    assert {"torch_loop", "torch_loop_val", "fit", "fit_val", "harness"} <= set(rows)
    assert ("spe" in rows) == (BACKEND != "torch")
    for name, row in rows.items():
        assert _finite(row["median_s"])
        if not name.startswith("torch"):
            assert _finite(row["ratio_vs_torch"])
    assert keras.config.max_steps_per_epoch() is None
    assert "PyTorch" in bench_run.summarize("lesson_cost", {BACKEND: res})


def test_run_rejects_unknown_backend():
    with pytest.raises(SystemExit):
        bench_run.main(["--backends", "theano", "--only", "layers"])
