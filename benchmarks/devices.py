"""Several devices for a lesson: data parallelism (--spread batch) vs one replicate a device (--spread seeds).

Issue 17 asks which is faster for the lessons: splitting every ``fit``'s
batch over the devices (``keras.distribution.DataParallel`` on JAX,
``tf.distribute.MirroredStrategy`` on TensorFlow), or training whole
replicate seeds side by side, one process a device (``kreg._spread``).
This runs one lesson three times, each in a fresh process with an empty
replicate cache, on two fake CPU devices:

- ``one``: ``--devices 1`` (the baseline);
- ``batch``: ``--devices 2`` (``--spread batch``, data parallel);
- ``seeds``: ``--devices 2 --spread seeds`` (two processes).

Fake devices are made the way the tests make them: JAX with
``XLA_FLAGS=--xla_force_host_platform_device_count=2``, TensorFlow with two
logical CPU devices set before it runs anything. **Fake devices share the
same cores**: a CPU run says what each scheme costs in overhead, not what
two GPUs would gain (see the README's "Several GPUs" section for what to
expect there). PyTorch is skipped: it has no fake devices, and Keras 3.15
has no data parallelism for it (``--spread seeds`` does spread it over GPUs).

The configurations run in rotated order over the repeats; the ratios are
wall times of ``batch`` and ``seeds`` over ``one`` (median over repeats). It
also checks that ``seeds`` decides every claim with the same effect as
``one`` (the replicates are the same nets).

Usage::

    python benchmarks/devices.py --backend jax [--lesson l10_dropout] [--flags "--epochs 5 --seeds 4"]
    python benchmarks/run.py --only devices --backends "jax tensorflow"
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import run as bench

CONFIGS = {"one": ["--devices", "1"], "batch": ["--devices", "2"], "seeds": ["--devices", "2", "--spread", "seeds"]}
DEFAULT_LESSON = "l10_dropout"
DEFAULT_FLAGS = "--epochs 5 --seeds 4"
QUICK_FLAGS = "--quick --seeds 2"

_TF_TWO_DEVICES = (
    "import runpy, sys, tensorflow as tf\n"
    "tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0],"
    " [tf.config.LogicalDeviceConfiguration()] * 2)\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def lesson_command(backend, script, flags):
    """The command and environment of one lesson run on two fake devices."""
    env = dict(os.environ, KERAS_BACKEND=backend, KREG_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    env.pop("KREG_ARGS", None)
    if backend == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
        return [sys.executable, str(script), *flags], env
    if backend == "tensorflow":
        return [sys.executable, "-c", _TF_TWO_DEVICES, str(script), *flags], env
    raise ValueError(f"Invalid value received for argument `backend`. Expected 'jax' or 'tensorflow' (PyTorch "
                     f"has no fake devices). Received: backend={backend!r}")


def run_config(backend, lesson, flags, name, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        cmd, env = lesson_command(backend, bench.ROOT / "lessons" / f"{lesson}.py",
                                  [*flags, *CONFIGS[name], "--out", str(out), "--verbose", "0"])
        res, wall = bench.run_lesson(cmd, env, out, label=name, timeout=timeout)
    effects = {c["claim"]: c.get("effect", c.get("discrepancy")) for c in res["claims"]}
    return {"process_wall_s": round(wall, 2), "lesson_wall_s": res["wall_time_s"], "devices": res["devices"],
            "effects": effects}


def main(argv=None):
    p = bench.lesson_parser(__doc__.splitlines()[0], lesson=DEFAULT_LESSON, flags=DEFAULT_FLAGS,
                            quick_flags=QUICK_FLAGS)
    args, backend, flags = bench.lesson_args(p, argv, flags=DEFAULT_FLAGS, quick_flags=QUICK_FLAGS)
    repeats = args.repeats or 1
    if backend == "torch":
        result = {"benchmark": "devices", "backend": backend, "skipped": "PyTorch has no fake CPU devices, and "
                  "Keras 3.15 has no data parallelism for it; --spread seeds spreads it over GPUs only"}
    else:
        load0 = bench.loadavg()
        runs = bench.rotated_runs(CONFIGS, repeats, lambda name: run_config(backend, args.lesson, flags, name,
                                                                            args.timeout))
        med = {n: bench.median([x["process_wall_s"] for x in runs[n]]) for n in CONFIGS}
        same = all(runs["seeds"][0]["effects"][c] == v for c, v in runs["one"][0]["effects"].items())
        result = {
            "benchmark": "devices", "backend": backend, "device": bench.backend_device(backend),
            "versions": bench.versions(backend), "loadavg_start": load0, "loadavg_end": bench.loadavg(),
            "settings": {"lesson": args.lesson, "flags": flags, "repeats": repeats, "fake_devices": 2,
                         "configs": {n: " ".join(f) for n, f in CONFIGS.items()}},
            "runs": runs, "median_process_wall_s": med,
            "ratio_batch_vs_one": med["batch"] / med["one"], "ratio_seeds_vs_one": med["seeds"] / med["one"],
            "seeds_same_effects_as_one": same,
        }
    return bench.emit(args, result, table)


def table(result):
    b = result["backend"]
    if "skipped" in result:
        return f"  {b}: skipped ({result['skipped']})"
    m = result["median_process_wall_s"]
    s = result["settings"]
    return (f"  {b}: {s['lesson']} {' '.join(s['flags'])} on 2 fake devices (same cores), load "
            f"{result['loadavg_start']} -> {result['loadavg_end']}\n"
            f"    one device          {m['one']:8.1f} s\n"
            f"    --spread batch (DP) {m['batch']:8.1f} s  x{result['ratio_batch_vs_one']:.2f} of one device\n"
            f"    --spread seeds      {m['seeds']:8.1f} s  x{result['ratio_seeds_vs_one']:.2f} of one device; "
            f"same effects as one device: {result['seeds_same_effects_as_one']}")


if __name__ == "__main__":
    main()
