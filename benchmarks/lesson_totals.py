"""All lessons' default runs, timed one at a time: the total lesson time per backend (issue 15).

Issue 15's goal: every lesson's default run (its default seeds and epochs,
on the offline data) takes at most 30 minutes in all under JAX on a 2-core
CPU, TensorFlow at most 2x JAX's total and PyTorch at most 3x.

**What runs.** Each lesson (every ``lessons/lNN_*.py``) in a fresh process::

    python lessons/<lesson>.py --backend B --no-cache --out <tmp> --verbose 0

with ``KREG_OFFLINE=1`` (the offline fallback data, no network probe) and no
``KREG_DATA_DIR`` or ``KREG_ARGS``, so it is exactly the default setting a
student gets offline. ``--no-cache`` makes every replicate train. One lesson
runs at a time; nothing else of this benchmark runs beside it.

**Side by side.** With several backends, the loop is lesson-major: lesson 1
under every backend, then lesson 2, ..., the order of the backends rotated
from one lesson to the next. Each backend's total then spans the same
stretch of time, and the ratios of the totals compare backends under the same
machine conditions as far as one machine allows. The load average before
and after every run is recorded: a lesson timed while something else ran is
recognisable as such.

**What is recorded** per lesson and backend: the process's wall time
(``wall_s``: interpreter start, imports, data loading, training, figures),
the lesson's own ``wall_time_s`` from its ``results.json``, the outcome of
every claim, the datasets used, the load averages. Per backend: the sum of
``wall_s`` over the lessons that finished, and the number that did not.
With JAX measured, the TensorFlow and PyTorch totals are also given as a
multiple of JAX's (over the lessons all of them finished). The file is
rewritten (atomically) after every lesson, so an interrupted run keeps what
it measured; a later invocation on the same day and machine keeps the
earlier entries it does not redo (``--lessons`` re-times a few).

**Threads.** ``--cpus 0`` pins every lesson process to the listed CPUs
(``os.sched_setaffinity``; ``OMP_NUM_THREADS`` is set to their number), for
example to time two backends at once, one core each; the setting is recorded
with the results. By default the lessons use the whole machine.

Results: ``benchmarks/results/lesson_totals-<device>-<date>.json`` and a table.

Usage::

    python benchmarks/lesson_totals.py [--backends "jax tensorflow torch"] [--lessons l10_dropout ...]
        [--timeout 3600] [--cpus 0,1] [--out DIR]

``python benchmarks/run.py --only lesson_totals`` runs it through the common
runner, one backend after the other (not interleaved). It is not in
``make bench``'s default list: an hour or more per backend on a 2-core CPU.

This script never imports Keras: every lesson runs in its own process.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the shared helpers)

ROOT = bench.ROOT
LESSONS_DIR = ROOT / "lessons"
GOAL_JAX_S = 30 * 60
GOAL_RATIO = {"tensorflow": 2.0, "torch": 3.0}


def lesson_env(backend, threads=None):
    env = dict(os.environ, KERAS_BACKEND=backend, KREG_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1")
    for name in ("KREG_ARGS", "KREG_DATA_DIR", "KREG_RECORD_VERDICTS"):
        env.pop(name, None)  # exactly the default setting
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def time_lesson(lesson, backend, work, *, timeout, cpus=None, quick=False):
    """One default run of ``lesson`` under ``backend`` (``quick``: its ``--quick`` run); its entry."""
    out = Path(work) / f"{lesson}.{backend}"
    cmd = [sys.executable, str(LESSONS_DIR / f"{lesson}.py"), "--backend", backend, "--no-cache", "--out", str(out),
           "--verbose", "0"] + (["--quick"] if quick else [])
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    load0 = bench.loadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=lesson_env(backend, len(cpus) if cpus else None),
                              capture_output=True, text=True, timeout=timeout, preexec_fn=pin)
        status = "ok" if proc.returncode == 0 else "failed"
        output, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        status, rc = "timeout", None
        output = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    wall = time.perf_counter() - t0
    try:
        results = json.loads((out / "results.json").read_text()) if status == "ok" else None
    except (OSError, ValueError):
        results, status = None, "failed"
    entry = {
        "lesson": lesson, "backend": backend, "status": status, "returncode": rc,
        "wall_s": round(wall, 1), "loadavg_before": load0, "loadavg_after": bench.loadavg(),
        "measured_at": _dt.datetime.now().isoformat(timespec="seconds"),
        "flags": ["<tmp>" if a == str(out) else a for a in cmd[2:]],
    }
    if results is not None:
        entry["lesson_wall_s"] = results.get("wall_time_s")
        entry["device"] = results.get("device")
        entry["seeds"] = results.get("seeds")
        entry["dataset"] = results.get("dataset")
        entry["outcomes"] = {c["claim"]: c["outcome"] for c in results.get("claims", []) if "outcome" in c}
        entry["arms_s"] = arm_seconds(results)
    else:
        entry["output_tail"] = output[-2000:]
    return entry


def arm_seconds(results):
    """Seconds each replicate arm of a lesson's ``results.json`` trained (the sum over its seeds), largest first.

    The lesson's wall time minus their sum is start-up, data, everything
    outside ``Run.replicates`` (single fits, exact checks) and the figures.
    """
    arms = {}
    for arm, rec in (results.get("replicates") or {}).items():
        walls = [s.get("wall_s") for s in rec.get("per_seed") or [] if isinstance(s, dict)]
        arms[arm] = round(sum(w for w in walls if isinstance(w, (int, float))), 1)
    return dict(sorted(arms.items(), key=lambda kv: -kv[1]))


def totals(per_backend):
    """Per backend: the total of the finished lessons' wall times, and the ratios to JAX over common lessons."""
    out = {}
    done = {b: {k: e for k, e in res["lessons"].items() if e["status"] == "ok"} for b, res in per_backend.items()}
    for b, entries in done.items():
        total = sum(e["wall_s"] for e in entries.values())
        t = {"lessons_finished": len(entries), "lessons_not_finished": sorted(set(per_backend[b]["lessons"]) -
                                                                              set(entries)),
             "total_s": round(total, 1), "total_min": round(total / 60, 1)}
        if b == "jax":
            t["goal"] = f"<= {GOAL_JAX_S // 60} min"
            t["goal_met"] = total <= GOAL_JAX_S and not t["lessons_not_finished"]
        elif "jax" in done:
            common = sorted(set(entries) & set(done["jax"]))
            jax_total = sum(done["jax"][k]["wall_s"] for k in common)
            if common and jax_total > 0:
                r = sum(entries[k]["wall_s"] for k in common) / jax_total
                t["ratio_to_jax"] = round(r, 2)
                t["ratio_over_lessons"] = len(common)
                t["goal"] = f"<= {GOAL_RATIO[b]:g}x JAX's total"
                t["goal_met"] = r <= GOAL_RATIO[b] and not t["lessons_not_finished"] and \
                    len(common) == len(entries)
        out[b] = t
    return out


def table(result):
    per_backend = result["backends"] if "backends" in result else {result["backend"]: result}
    backends = list(per_backend)
    lessons = sorted({k for res in per_backend.values() for k in res["lessons"]})
    lines = [f"  {'lesson':22}" + "".join(f"{b:>14}" for b in backends) + "   (wall time, load before)"]
    for k in lessons:
        cells = []
        for b in backends:
            e = per_backend[b]["lessons"].get(k)
            if e is None:
                cells.append(f"{'-':>14}")
            elif e["status"] != "ok":
                cells.append(f"{e['status'].upper():>14}")
            else:
                load = (e.get("loadavg_before") or [float("nan")])[0]
                cells.append(f"{e['wall_s'] / 60:>7.1f} m {load:>4.1f}")
        lines.append(f"  {k:22}" + "".join(cells))
    tot = result.get("totals") or totals(per_backend)
    row = []
    for b in backends:
        t = tot.get(b, {})
        row.append(f"{t.get('total_min', float('nan')):>9.1f} min")
    lines.append(f"  {'TOTAL':22}" + "".join(f"{c:>14}" for c in row))
    for b in backends:
        t = tot.get(b, {})
        extra = f", x{t['ratio_to_jax']:.2f} JAX over {t['ratio_over_lessons']} lessons" if "ratio_to_jax" in t else ""
        missing = f", NOT FINISHED: {', '.join(t['lessons_not_finished'])}" if t.get("lessons_not_finished") else ""
        goal = f"; goal {t['goal']}: {'MET' if t['goal_met'] else 'MISSED'}" if "goal" in t else ""
        lines.append(f"  {b}: {t.get('lessons_finished', 0)} lessons{extra}{missing}{goal}")
    return "\n".join(lines)


def backend_result(backend, entries, *, timeout, cpus, started):
    device = next((e["device"] for e in entries.values() if e.get("device")), None)
    return {"benchmark": "lesson_totals", "backend": backend, "device": device or "unknown (no lesson finished)",
            "versions": bench.versions(backend), "started": started,
            "settings": {"timeout_s": timeout, "cpus": cpus, "flags": "--no-cache --out <tmp> --verbose 0",
                         "env": "KREG_OFFLINE=1, no KREG_DATA_DIR / KREG_ARGS"},
            "lessons": entries}


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default=None,
                   help="space- or comma-separated backends (default: jax tensorflow torch; run.py passes --backend)")
    p.add_argument("--backend", choices=bench.BACKENDS, default=None, help="one backend (as run.py calls it)")
    p.add_argument("--lessons", nargs="+", default=None, help="lesson names (default: every lessons/lNN_*.py)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per lesson run before it is killed")
    p.add_argument("--cpus", default=None, help="pin the lessons to these CPUs, e.g. '0' or '0,1' (default: all)")
    p.add_argument("--quick", action="store_true", help="accepted for run.py: runs the lessons' --quick setting")
    p.add_argument("--repeats", type=int, default=None, help="accepted for run.py; ignored (one run per lesson)")
    p.add_argument("--json", type=Path, default=None, help="write this run's per-backend result here (run.py)")
    p.add_argument("--out", type=Path, default=bench.RESULTS, help="folder of lesson_totals-<device>-<date>.json")
    return p


def parse(argv=None):
    p = parser()
    args = p.parse_args(argv)
    bench.backends_and_lessons(p, args, default_backends=("jax", "tensorflow", "torch"))
    if not args.timeout > 0 or args.timeout == float("inf"):
        p.error(f"argument --timeout: expected a positive number of seconds, received {args.timeout!r}")
    if args.cpus is not None:
        try:
            cpus = sorted({int(c) for c in re.split(r"[,\s]+", args.cpus.strip()) if c})
        except ValueError:
            cpus = []
        available = os.sched_getaffinity(0)
        if not cpus or not set(cpus) <= available:
            p.error(f"argument --cpus: expected CPU numbers among {sorted(available)}, received {args.cpus!r}")
        args.cpus = cpus
    return args


def main(argv=None):
    args = parse(argv)
    started = _dt.datetime.now()
    mach = bench.machine()
    target = bench.result_path("lesson_totals", mach["gpu"] or mach["cpu"], started.strftime("%Y-%m-%d"), args.out)
    earlier = bench.read_json(target)  # an earlier invocation of the same day: its entries are kept (read once)
    print(f"== lesson totals: {len(args.lesson_list)} lessons x {args.backend_list}, default runs one at a time"
          f"{f', pinned to CPUs {args.cpus}' if args.cpus else ''}; load {bench.loadavg()}", flush=True)
    entries = {b: {} for b in args.backend_list}
    with tempfile.TemporaryDirectory(prefix="kreg-lesson-totals-") as work:
        for i, lesson in enumerate(args.lesson_list):
            order = args.backend_list[i % len(args.backend_list):] + args.backend_list[:i % len(args.backend_list)]
            for backend in order:
                # --quick (run.py's smoke setting) runs the lessons' --quick: never written as a default-run figure
                e = time_lesson(lesson, backend, work, timeout=args.timeout, cpus=args.cpus, quick=args.quick)
                entries[backend][lesson] = e
                shown = f"{e['wall_s']:.0f} s" if e["status"] == "ok" else e["status"].upper()
                print(f"   {lesson:22} {backend:10} {shown:>8}  load {e['loadavg_before']} -> {e['loadavg_after']}",
                      flush=True)
                per_backend = {b: backend_result(b, entries[b], timeout=args.timeout, cpus=args.cpus,
                                                 started=started.isoformat(timespec="seconds"))
                               for b in args.backend_list}
                if args.json:  # run.py's per-backend call: it writes the combined file
                    bench.write_json_atomic(args.json, per_backend[args.backend_list[0]])
                elif not args.quick:
                    _write(target, earlier, per_backend, args, started)
    print("")
    if args.json:
        print(table(per_backend[args.backend_list[0]]))
        return per_backend
    if args.quick:
        print(table({"backends": per_backend}))
        return per_backend
    path = _write(target, earlier, per_backend, args, started)
    print(table(json.loads(path.read_text())))
    print(f"   -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
    return per_backend


def _write(target, earlier, per_backend, args, started):
    """Write this invocation's entries, with those of ``earlier`` (the same day's file before it) it did not redo."""
    settings = {"backends": args.backend_list, "lessons": args.lesson_list, "timeout_s": args.timeout,
                "cpus": args.cpus, "order": "lesson-major, backends rotated from one lesson to the next"}
    merged, settings = bench.merge_docs(earlier, per_backend, settings)
    path = bench.write_results("lesson_totals", merged, settings=settings, out_dir=args.out, started=started)
    doc = json.loads(path.read_text())
    doc["totals"] = totals(merged)
    return bench.write_json_atomic(path, doc)


if __name__ == "__main__":
    main()
