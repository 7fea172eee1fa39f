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

import devices as bench_devices  # noqa: E402
import group_seeds as bench_group_seeds  # noqa: E402
import lesson_cost  # noqa: E402
import layers as bench_layers  # noqa: E402
import run as bench_run  # noqa: E402
import torch_profile  # noqa: E402

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
    assert {"torch_loop", "torch_loop_val", "fit", "fit_val", "harness", "harness_stepwise", "harness_epoch",
            "torch_loop_val_epoch"} <= set(rows)
    assert rows["harness_epoch"]["vs"] == "torch_loop_val_epoch" and len(res["times_s"]["harness_epoch"]) == 1
    assert "an epoch within a fit" in lesson_cost.table(res)
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


# ------------------------------------------------------------------ mnist_scale (no lesson runs, no network)
import mnist_scale  # noqa: E402
import numpy as np  # noqa: E402

from kreg.data import load, read_idx  # noqa: E402


def _digits(n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 4:24, 4:24] = rng.integers(0, 256, (n, 20, 20), dtype=np.uint8)
    return x, (np.arange(n) % 10).astype(np.uint8)


def test_mnist_scale_idx_round_trip(tmp_path):
    xs, ys = _digits(20)
    xts, yts = _digits(10, seed=1)
    info = mnist_scale.make_mnist_dir(tmp_path, n_train=60, n_test=25, source=(xs, ys, xts, yts))
    folder = tmp_path / "mnist"
    assert info["n_train"] == 60 and info["n_test"] == 25
    assert sorted(p.name for p in folder.iterdir()) == sorted(mnist_scale.IDX_NAMES.values())
    x = read_idx(folder / "train-images-idx3-ubyte")
    y = read_idx(folder / "train-labels-idx1-ubyte")
    assert x.shape == (60, 28, 28) and x.dtype == np.uint8 and y.shape == (60,)
    # tiled copies are shifted, never identical; every label comes from its source image's label
    assert len(np.unique(x.reshape(60, -1), axis=0)) == 60
    assert np.array_equal(np.bincount(y, minlength=10), np.full(10, 6))
    # kreg.data.load reads exactly these files for "mnist" (no fallback, no network)
    ds = load("mnist", data_dir=tmp_path, offline=True, fallback=None, val_fraction=0.0, verbose=False)
    assert ds.info.name == "mnist" and "IDX" in ds.info.source and ds.sizes() == {"train": 60, "val": 0, "test": 25}
    np.testing.assert_array_equal(ds.x_train[..., 0], x.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(ds.y_test, read_idx(folder / "t10k-labels-idx1-ubyte"))
    # deterministic for a seed, different for another
    again, _ = mnist_scale.tile_shifted(xs, ys, 60)
    other, _ = mnist_scale.tile_shifted(xs, ys, 60, seed=1)
    assert np.array_equal(again, x) and not np.array_equal(other, x)


def test_mnist_scale_shift_is_a_translation():
    x = np.zeros((1, 28, 28), np.uint8)
    x[0, 10, 12] = 255
    out, _ = mnist_scale.tile_shifted(x, np.zeros(1, np.uint8), 25)
    where = {tuple(np.argwhere(img)[0] - (10, 12)) for img in out}
    assert where == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # every offset once
    with pytest.raises(ValueError, match="distinct shifts"):
        mnist_scale.tile_shifted(x, np.zeros(1, np.uint8), 26)
    with pytest.raises(ValueError, match="uint8"):
        mnist_scale.write_idx(Path("unused"), np.zeros(3, np.float32))


def test_mnist_scale_default_record_and_extrapolation(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    records = tmp_path / "records"
    assert mnist_scale.default_offline_record("l10_dropout", "jax", runs, records) is None
    sizes = {"mnist": {"used": "mnist5k", "sizes": {"train": 3600, "val": 400, "test": 1000}}}
    records.mkdir(parents=True)
    (records / "l10_dropout.jax.json").write_text(json.dumps({"wall_time_s": 120.0, "dataset": sizes}))
    rec = mnist_scale.default_offline_record("l10_dropout", "jax", runs, records)
    assert rec["wall_s"] == 120.0 and rec["from"].endswith("l10_dropout.jax.json")
    scale = {"mnist": {"used": "mnist", "sizes": {"train": 54000}}}
    assert mnist_scale.extrapolate(120.0, scale, rec["datasets"])[:2] == (1800.0, 15.0)
    assert mnist_scale.extrapolate(None, scale, None) == (None, None, mnist_scale.NO_DEFAULT)
    assert mnist_scale.extrapolate(50.0, {"mnist1d": {"used": "mnist1d"}}, {})[:2] == (50.0, 1.0)
    # a results.json counts only when it is a default run (no --quick, default epochs and seeds)
    d = mnist_scale.lesson_defaults("l10_dropout")
    res = runs / "l12_x" / "jax"
    res.mkdir(parents=True)
    doc = {"wall_time_s": 9.0, "config": {"quick": False, "epochs": d["epochs"], "seeds": d["seeds"]},
           "dataset": {"mnist": {"name": "mnist5k", "fallback_reason": "offline", "sizes": {"train": 3600}}}}
    monkeypatch.setattr(mnist_scale, "lesson_defaults", lambda lesson: d)
    (res / "results.json").write_text(json.dumps(doc))
    assert mnist_scale.default_offline_record("l12_x", "jax", runs, records)["wall_s"] == 9.0
    (res / "results.json").write_text(json.dumps(doc | {"config": doc["config"] | {"epochs": 1}}))
    assert mnist_scale.default_offline_record("l12_x", "jax", runs, records) is None
    (res / "results.json").write_text(json.dumps(doc | {"config": doc["config"] | {"quick": True}}))
    assert mnist_scale.default_offline_record("l12_x", "jax", runs, records) is None


def test_mnist_scale_merges_runs_of_the_same_day(tmp_path):
    path = tmp_path / "lessons-x-2026-01-01.json"
    path.write_text(json.dumps({"date": "d0", "settings": {"backends": ["jax"]},
                                "backends": {"jax": {"lessons": {"a": {"v": 1}, "b": {"v": 1}}}}}))
    merged, settings = bench_run.merge_previous(path, {"jax": {"lessons": {"b": {"v": 2}}},
                                                       "torch": {"lessons": {"a": {"v": 3}}}}, {"backends": ["x"]})
    assert merged["jax"]["lessons"] == {"a": {"v": 1}, "b": {"v": 2}} and merged["torch"]["lessons"]["a"]["v"] == 3
    assert settings["backends"] == ["jax", "torch"] and len(settings["runs"]) == 2
    assert bench_run.merge_previous(tmp_path / "none.json", {"jax": {}}, {}) == ({"jax": {}}, {})


def test_mnist_scale_table():
    entry = {"lesson": "l10_more_data", "backend": "jax", "status": "over_cap", "peak_rss_mb": 8200.0,
             "within_budget": False, "rss_note": "over the cap (killed at 8.0 GB)", "short_run_wall_s": 40.0,
             "default_offline_wall_s": None, "extrapolated_full_mnist_wall_s": None,
             "datasets": {"mnist": {"used": "mnist"}}}
    result = {"backend": "jax", "device": "cpu", "loadavg_start": None, "loadavg_end": None,
              "settings": {"data": "x", "budget_gb": 3.0}, "lessons": {"l10_more_data": entry}}
    text = mnist_scale.table(result)
    assert "killed at 8.0 GB" in text and "over the 3 GB budget: l10_more_data" in text and "extrapolated" in text


@pytest.mark.parametrize("argv, message", [
    (["--backends", "theano"], "unknown backend"),
    (["--lessons", "l99_nothing"], "unknown lesson"),
    (["--timeout", "0"], "--timeout"),
    (["--cap-gb", "-1"], "--cap-gb"),
    (["--budget-gb", "9"], "--budget-gb"),
    (["--backend", "jax", "--backends", "torch"], "not both"),
    (["--data-seed", "-3"], "--data-seed"),
])
def test_mnist_scale_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        mnist_scale.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_mnist_scale_arguments_and_registration():
    args = mnist_scale.parse(["--backends", "jax,torch", "--lessons", "l10_dropout.py"])
    assert args.backend_list == ["jax", "torch"] and args.lesson_list == ["l10_dropout"]
    assert mnist_scale.parse([]).lesson_list == mnist_scale.all_lessons() and len(mnist_scale.all_lessons()) >= 18
    cmd = mnist_scale.lesson_cmd("l10_dropout", "jax", Path("o"))
    assert {"--seeds", "--epochs", "--verbose"} <= set(cmd) and cmd[cmd.index("--epochs") + 1] == "1"
    env = mnist_scale.lesson_env("jax", Path("/d"))
    assert env["KREG_DATA_DIR"] == "/d" and env["KREG_OFFLINE"] == "1" and env["KERAS_BACKEND"] == "jax"
    assert "mnist_scale" in bench_run.BENCHMARKS and "mnist_scale" not in bench_run.DEFAULT_BENCHMARKS
    assert bench_run.result_path("mnist_scale", "Intel Xeon", "2026-01-01").name == "lessons-intel-xeon-2026-01-01.json"


def test_devices_benchmark_arguments_and_table(capsys):
    assert "devices" in bench_run.BENCHMARKS and "devices" not in bench_run.DEFAULT_BENCHMARKS
    with pytest.raises(ValueError, match=r"`backend`.*Received: backend='torch'"):
        bench_devices.lesson_command("torch", "lessons/l10_dropout.py", [])
    cmd, env = bench_devices.lesson_command("jax", "lessons/l10_dropout.py", ["--quick"])
    assert "--xla_force_host_platform_device_count=2" in env["XLA_FLAGS"] and cmd[-1] == "--quick"
    with pytest.raises(SystemExit):
        bench_devices.main(["--backend", "jax", "--lesson", "l99_nope"])
    assert "`--lesson`" in capsys.readouterr().err
    assert "skipped" in bench_devices.main(["--backend", "torch"])
    res = {"backend": "jax", "median_process_wall_s": {"one": 10.0, "batch": 15.0, "seeds": 6.0},
           "ratio_batch_vs_one": 1.5, "ratio_seeds_vs_one": 0.6, "seeds_same_effects_as_one": True,
           "loadavg_start": 1.0, "loadavg_end": 1.0, "settings": {"lesson": "l10_dropout", "flags": ["--quick"]}}
    text = bench_devices.table(res)
    assert "x1.50 of one device" in text and "x0.60 of one device" in text and "same effects" in text


def test_group_seeds_benchmark_arguments_and_table(capsys):
    assert "group_seeds" in bench_run.BENCHMARKS and "group_seeds" not in bench_run.DEFAULT_BENCHMARKS
    with pytest.raises(SystemExit):
        bench_group_seeds.main(["--backend", "jax", "--lesson", "l99_nope"])
    assert "`--lesson`" in capsys.readouterr().err
    res = {"backend": "jax", "settings": {"lesson": "l10_dropout", "flags": ["--epochs", "10"]},
           "loadavg_start": 1.0, "loadavg_end": 1.0, "grouped_arms": ["a", "b"],
           "median_grouped_arms_train_s": {"alone": 100.0, "grouped": 40.0}, "ratio_grouped_arms": 0.4,
           "median_lesson_wall_s": {"alone": 200.0, "grouped": 150.0}, "ratio_lesson": 0.75,
           "outcomes": {"c1": {"alone": "holds", "grouped": "holds"},
                        "c2": {"alone": "holds", "grouped": "inconclusive"}}}
    text = bench_group_seeds.table(res)
    assert "x0.40" in text and "x0.75" in text and "1 of 2" in text and "holds -> inconclusive" in text


# ------------------------------------------------------------------ lesson_totals
import lesson_totals  # noqa: E402


@pytest.mark.parametrize("argv, message", [
    (["--backends", "theano"], "unknown backend"),
    (["--lessons", "l99_nothing"], "unknown lesson"),
    (["--timeout", "0"], "--timeout"),
    (["--cpus", "zero"], "--cpus"),
    (["--cpus", "4096"], "--cpus"),
    (["--backend", "jax", "--backends", "torch"], "not both"),
])
def test_lesson_totals_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        lesson_totals.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_lesson_totals_totals_and_table():
    def entry(wall, status="ok"):
        return {"status": status, "wall_s": wall, "loadavg_before": [0.5, 0.4, 0.3]}

    per_backend = {"jax": {"lessons": {"a": entry(600.0), "b": entry(900.0)}},
                   "tensorflow": {"lessons": {"a": entry(1200.0), "b": entry(1500.0)}},
                   "torch": {"lessons": {"a": entry(2400.0), "b": entry(100.0, "timeout")}}}
    t = lesson_totals.totals(per_backend)
    assert t["jax"]["total_min"] == 25.0 and t["jax"]["goal_met"] is True
    assert t["tensorflow"]["ratio_to_jax"] == 1.8 and t["tensorflow"]["goal_met"] is True
    # torch's finished lesson a is compared with JAX's lesson a only; the timed-out lesson b fails the goal
    assert t["torch"]["ratio_to_jax"] == 4.0 and t["torch"]["ratio_over_lessons"] == 1
    assert t["torch"]["lessons_not_finished"] == ["b"] and t["torch"]["goal_met"] is False
    per_backend["jax"]["lessons"]["c"] = entry(400.0)
    assert lesson_totals.totals(per_backend)["jax"]["goal_met"] is False  # 31.7 min
    text = lesson_totals.table({"backends": per_backend})
    assert "TIMEOUT" in text and "NOT FINISHED: b" in text and "x4.00 JAX over 1 lessons" in text
    assert "lesson_totals" in bench_run.BENCHMARKS and "lesson_totals" not in bench_run.DEFAULT_BENCHMARKS


def test_lesson_totals_keeps_an_earlier_file_and_reads_it_once(tmp_path):
    """Rewritten after every lesson: the same day's earlier file is merged in, its runs listed once."""
    args = lesson_totals.parse(["--backends", "jax", "--lessons", "l10_noise", "--out", str(tmp_path)])
    mach = bench_run.machine()
    target = bench_run.result_path("lesson_totals", mach["gpu"] or mach["cpu"], "2026-01-01", tmp_path)
    target.write_text(json.dumps({"date": "d0", "settings": {"backends": ["torch"]},
                                  "backends": {"torch": {"lessons": {"l10_noise": {"status": "ok", "wall_s": 9.0}}}}}))
    earlier = bench_run.read_json(target)
    import datetime

    for wall in (1.0, 2.0):  # two rewrites within one invocation
        per_backend = {"jax": {"lessons": {"l10_noise": {"status": "ok", "wall_s": wall}}}}
        lesson_totals._write(target, earlier, per_backend, args, datetime.datetime(2026, 1, 1))
    doc = json.loads(target.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file left
    assert doc["backends"]["torch"]["lessons"]["l10_noise"]["wall_s"] == 9.0
    assert doc["backends"]["jax"]["lessons"]["l10_noise"]["wall_s"] == 2.0
    assert len(doc["settings"]["runs"]) == 2 and doc["totals"]["torch"]["total_s"] == 9.0
    assert bench_run.read_json(tmp_path / "none.json") is None


def test_lesson_totals_arm_seconds():
    results = {"replicates": {"a": {"per_seed": [{"wall_s": 1.5}, {"wall_s": 2.0}]},
                              "b": {"per_seed": [{"wall_s": 10.0}, {"wall_s": None}]}}}
    assert list(lesson_totals.arm_seconds(results).items()) == [("b", 10.0), ("a", 3.5)]
    assert lesson_totals.arm_seconds({}) == {}


def test_lesson_totals_times_a_real_run(tmp_path, capsys):
    """One lesson's --quick run, pinned to one CPU, through run.py's per-backend call (no figures are kept)."""
    out = tmp_path / "one.json"
    cpu = min(__import__("os").sched_getaffinity(0))
    lesson_totals.main(["--backend", BACKEND, "--lessons", "l10_noise", "--quick", "--cpus", str(cpu),
                        "--json", str(out)])
    res = json.loads(out.read_text())
    e = res["lessons"]["l10_noise"]
    assert e["status"] == "ok", e.get("output_tail")
    assert e["wall_s"] > 0 and e["lesson_wall_s"] > 0 and "--no-cache" in e["flags"] and "--quick" in e["flags"]
    assert e["arms_s"] and all(v >= 0 for v in e["arms_s"].values())
    assert e["outcomes"] and set(e["outcomes"].values()) <= {"inconclusive", "holds", "does not hold"}
    assert res["settings"]["cpus"] == [cpu]
    assert "l10_noise" in bench_run.summarize("lesson_totals", {BACKEND: res})


def test_torch_profile_buckets():
    assert torch_profile.bucket("/x/keras/src/trainers/data_adapters/array_slicing.py", "f") == "keras data adapter"
    assert torch_profile.bucket("/x/keras/src/backend/torch/trainer.py", "train_step") == "keras trainer"
    assert torch_profile.bucket("~", "<method 'run_backward' of 'torch._C._EngineBase' objects>") == \
        "torch compute"
    assert torch_profile.bucket("/x/kreg/layers/dropout.py", "call") == "kreg"
    assert torch_profile.bucket("/usr/lib/python3.11/json/encoder.py", "f") == "python/other"


@pytest.mark.skipif(BACKEND != "torch", reason="profiles Keras's PyTorch trainer, which only the torch backend has")
def test_torch_profile_quick(tmp_path, capsys):
    res = torch_profile.main(["--quick", "--json", str(tmp_path / "p.json")])
    assert set(res["cases"]) == {"torch_loop_val", "harness", "fit"}
    for case in res["cases"].values():
        assert case["profiled_wall_s"] > 0 and sum(case["buckets_s"].values()) > 0
    assert "torch compute" in capsys.readouterr().out
