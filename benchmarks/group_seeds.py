"""Replicate seeds one at a time vs grouped into one model (``--group-seeds``), for one lesson.

Issue 15's lever "vectorized replicates, inside the harness": with
``--group-seeds`` the harness trains an arm's K replicate seeds as one Keras
model with one branch per seed (``kreg.lesson.Run._group_model``), so a
batch costs one train step, one data-pipeline step and one metrics update
for all K instead of K of each. This runs one lesson twice per repeat, each
in a fresh process with an empty replicate cache:

- ``alone``: the default, one ``fit`` per seed;
- ``grouped``: ``--group-seeds``.

It reports the whole lesson's wall time, and the training time of the arms
that ``--group-seeds`` grouped, summed over their seeds (``wall_s`` of each
seed in ``results.json``), in both configurations: the ratio of the latter
is the lever's own effect, the former what a student sees. The two runs are
different experiments: grouped seeds share the base seed's data order, so
effects and outcomes may differ; they are listed side by side.

Usage::

    python benchmarks/group_seeds.py --backend jax [--lesson l10_dropout] [--flags "--epochs 10"]
    python benchmarks/run.py --only group_seeds
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import run as bench

CONFIGS = {"alone": [], "grouped": ["--group-seeds"]}
DEFAULT_LESSON = "l10_dropout"
DEFAULT_FLAGS = "--epochs 10"
QUICK_FLAGS = "--quick --seeds 2"


def run_config(backend, lesson, flags, name, timeout):
    """One lesson run in a fresh process; its wall times, per-arm training times and claims."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        env = dict(os.environ, KERAS_BACKEND=backend, KREG_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
        env.pop("KREG_ARGS", None)
        cmd = [sys.executable, str(bench.ROOT / "lessons" / f"{lesson}.py"), *flags, *CONFIGS[name],
               "--out", str(out), "--verbose", "0"]
        res, wall = bench.run_lesson(cmd, env, out, label=name, timeout=timeout)
    arms = {arm: {"train_s": round(sum(e["wall_s"] for e in rep["per_seed"]), 2),
                  "grouped": bool(rep.get("grouped"))}
            for arm, rep in res["replicates"].items()}
    claims = {c["claim"]: {"outcome": c["outcome"], "effect": c.get("effect", c.get("discrepancy"))}
              for c in res["claims"]}
    return {"process_wall_s": round(wall, 2), "lesson_wall_s": res["wall_time_s"], "arms": arms, "claims": claims}


def main(argv=None):
    p = bench.lesson_parser(__doc__.splitlines()[0], lesson=DEFAULT_LESSON, flags=DEFAULT_FLAGS,
                            quick_flags=QUICK_FLAGS)
    args, backend, flags = bench.lesson_args(p, argv, flags=DEFAULT_FLAGS, quick_flags=QUICK_FLAGS)
    repeats = args.repeats or 1
    load0 = bench.loadavg()
    runs = bench.rotated_runs(CONFIGS, repeats, lambda name: run_config(backend, args.lesson, flags, name,
                                                                        args.timeout))
    grouped_arms = sorted(a for a, v in runs["grouped"][0]["arms"].items() if v["grouped"])
    train = {n: bench.median([sum(x["arms"][a]["train_s"] for a in grouped_arms) for x in runs[n]])
             for n in CONFIGS}
    lesson = {n: bench.median([x["lesson_wall_s"] for x in runs[n]]) for n in CONFIGS}
    result = {
        "benchmark": "group_seeds", "backend": backend, "device": bench.backend_device(backend),
        "versions": bench.versions(backend), "loadavg_start": load0, "loadavg_end": bench.loadavg(),
        "settings": {"lesson": args.lesson, "flags": flags, "repeats": repeats,
                     "configs": {n: " ".join(f) or "(default)" for n, f in CONFIGS.items()}},
        "runs": runs, "grouped_arms": grouped_arms,
        "median_grouped_arms_train_s": train, "median_lesson_wall_s": lesson,
        "ratio_grouped_arms": train["grouped"] / train["alone"] if train["alone"] else None,
        "ratio_lesson": lesson["grouped"] / lesson["alone"],
        "outcomes": {c: {n: runs[n][0]["claims"].get(c, {}).get("outcome") for n in CONFIGS}
                     for c in runs["alone"][0]["claims"]},
    }
    return bench.emit(args, result, table)


def table(result):
    b, s = result["backend"], result["settings"]
    t, w = result["median_grouped_arms_train_s"], result["median_lesson_wall_s"]
    lines = [f"  {b}: {s['lesson']} {' '.join(s['flags'])}, load {result['loadavg_start']} -> "
             f"{result['loadavg_end']}; {len(result['grouped_arms'])} arms grouped",
             f"    grouped arms' training  alone {t['alone']:8.1f} s  grouped {t['grouped']:8.1f} s  "
             f"x{result['ratio_grouped_arms']:.2f}",
             f"    whole lesson            alone {w['alone']:8.1f} s  grouped {w['grouped']:8.1f} s  "
             f"x{result['ratio_lesson']:.2f}"]
    differ = {c: o for c, o in result["outcomes"].items() if o["alone"] != o["grouped"]}
    lines.append(f"    outcomes that differ (shared data order): {len(differ)} of {len(result['outcomes'])}"
                 + "".join(f"\n      {c[:70]}: {o['alone']} -> {o['grouped']}" for c, o in differ.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
