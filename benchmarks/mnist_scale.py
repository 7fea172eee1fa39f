"""MNIST scale, measured: every lesson's peak memory and time on MNIST-sized data (issue 11, item 8).

Full MNIST is not on these machines, so this benchmark makes data of its
size and shape and runs the lessons on them:

1. **Data.** 60,000 train + 10,000 test 28x28 uint8 images with labels, in
   ``$KREG_DATA_DIR`` form: the four raw IDX files (LeCun's names,
   uncompressed) in ``<dir>/mnist/``, which ``kreg.data.load("mnist")``
   reads before any other source, so no network is needed (the lessons run
   with ``KREG_OFFLINE=1`` as well). The images are the 5,000 real digits
   of ``kreg.data.load("mnist5k")``, tiled: the train images from its 4,000
   train digits (15 copies each), the test images from its 1,000 test
   digits (10 copies each), every copy shifted by a different (dy, dx) in
   [-2, 2]^2 (zero fill, no wrap-around), so no two images are identical
   and no test image is a shifted copy of a train image. The order is
   shuffled. Deterministic: fixed seed ``--data-seed`` (default 453).
2. **Short runs.** Each lesson (every ``lessons/lNN_*.py``) under each
   backend runs once, one at a time, in a subprocess: ``python
   lessons/<lesson>.py --backend B --seeds 1 --epochs 1 --out <tmp>
   --verbose 0`` with ``KREG_DATA_DIR`` at that folder. A lesson whose
   default dataset is not MNIST (``l10_double_descent``: mnist1d) runs on
   its own data; each entry records the datasets the lesson used (from its
   ``results.json``). Sub-experiments whose epochs a lesson fixes itself
   (not through ``--epochs``) keep their length. Memory that grows with the
   number of epochs would be under-measured by a one-epoch run (an earlier
   ``l10_more_data`` materialized ``epochs x ceil(n / batch) x batch``
   upsampled images per fit; it now gathers each batch from the subset's
   indices, so its memory no longer grows with the epochs).
3. **Peak RSS** of the lesson's process tree: the larger of (a) the
   ``ru_maxrss`` that ``os.wait4`` reports for the child (its own peak,
   including any children it waited for) and (b) the largest sum of
   ``VmRSS`` over the process tree, polled every ``--poll`` seconds from
   ``/proc``. A watchdog kills the tree when (b) exceeds ``--cap-gb``
   (default 8): the entry says ``over the cap (killed at X GB)``. A run
   longer than ``--timeout`` (default 600 s) is killed and recorded as
   timed out; its peak so far is a lower bound. Budget: ``--budget-gb``
   (3) per lesson; ``within_budget`` is true / false, or null when a run
   timed out below the budget. Memory is in MiB (2^20 bytes) and GB means
   GiB (2^30 bytes): the budget is 3,072 MiB.
4. **Default offline wall time** (the lesson's own default setting on the
   embedded fallback data) is not re-run (18 default runs take too long on
   a small machine); it is read from the slow suite's records
   ``lessons/results/<lesson>.<backend>.json`` or from
   ``runs/<lesson>/<backend>/results.json`` when its config is the
   lesson's default (not ``--quick``, the lesson's default epochs and seeds,
   fallback data). Missing: null, with the note "no default run recorded;
   run make test-slow". ``--default-runs`` runs them here (slow).
5. **Extrapolated wall time at full MNIST** (labelled ``extrapolated``)::

       extrapolated_full_mnist_wall_s = default_offline_wall_s
                                        x n_train(mnist, MNIST scale) / n_train(mnist, default offline run)

   where ``n_train`` is the number of training examples the lesson used
   for its ``mnist`` data (54,000 at MNIST scale, 3,600 on the mnist5k
   fallback, fewer where a lesson takes a subset), read from the two runs'
   ``results.json``. That is, training time is taken as proportional to the
   number of training examples. A lesson that loads no ``mnist`` data gets
   the factor 1. This over-estimates where start-up and compilation weigh
   (they do not grow with the data) and ignores lessons whose subset sizes
   differ in kind between the two data sets.

Results: ``benchmarks/results/lessons-<device>-<date>.json`` (written
atomically, the same layout as every ``run.py`` result: device, machine,
settings, and ``backends: {backend: {..., "lessons": {lesson: entry}}}``),
and a table on the console.

Usage::

    python benchmarks/mnist_scale.py [--backends "tensorflow jax torch"] [--lessons l10_dropout ...]
        [--timeout 600] [--cap-gb 8] [--budget-gb 3] [--default-runs] [--data-dir DIR] [--out DIR]

``python benchmarks/run.py --only mnist_scale`` runs it through the common
runner (one backend per call of this script, ``--backend B --json FILE``).
``--quick`` is a smoke setting: 6,000 + 1,000 images and the lessons'
``--quick`` mode instead of one full epoch (numbers meaningless).

This script never imports Keras: every lesson runs in its own process.
"""

from __future__ import annotations

import argparse
import ast
import datetime as _dt
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kreg.data.datasets import IDX_FILES  # no Keras import: kreg.data.datasets loads Keras lazily

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (the shared helpers)

ROOT = bench.ROOT
LESSONS_DIR = ROOT / "lessons"
RUNS = ROOT / "runs"
RESULT_NAME = "lessons"  # benchmarks/results/lessons-<device>-<date>.json
N_TRAIN, N_TEST = 60_000, 10_000
QUICK_TRAIN, QUICK_TEST = 6_000, 1_000
SHIFT = 2
DATA_SEED = 453
MIB = 2**20
GIB = 2**30
NO_DEFAULT = "no default run recorded; run make test-slow"
FORMULA = ("extrapolated_full_mnist_wall_s = default_offline_wall_s * n_train(mnist at MNIST scale) / "
           "n_train(mnist in the default offline run); factor 1 when the lesson loads no mnist data. "
           "Assumes training time proportional to training examples (start-up and compilation included, "
           "so it over-estimates).")
IDX_NAMES = dict(IDX_FILES)  # the names kreg.data reads, so the files are found


# ------------------------------------------------------------------ data
def write_idx(path, array):
    """Write a uint8 array as an (uncompressed) IDX file, LeCun's format: magic 0x0000 08 <ndim>, big-endian dims."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"IDX files written here hold uint8 values; received dtype {array.dtype} for {path}")
    if array.ndim == 0:
        raise ValueError(f"an IDX file needs at least one dimension; received a scalar for {path}")
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    path = Path(path)
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.ascontiguousarray(array).tobytes())
    return path


def tile_shifted(x, y, n, *, seed=DATA_SEED, shift=SHIFT):
    """``n`` images made from ``x`` (uint8, (m, 28, 28)) by tiling, each copy shifted by its own (dy, dx).

    Image ``i`` of ``x`` appears ``ceil(n / m)`` times (the last round
    drawing a random subset), each time shifted by a different offset in
    ``[-shift, shift]^2`` (zero fill), so no two outputs are equal unless
    ``x`` itself holds shifted duplicates. The result is shuffled. Returns
    ``(images uint8 (n, 28, 28), labels uint8 (n,))``.
    """
    import numpy as np

    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.dtype != np.uint8 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"expected uint8 images (m, h, w) and m labels; received {x.dtype} {x.shape}, "
                         f"labels {y.shape}")
    m, h, w = x.shape
    offsets = [(dy, dx) for dy in range(-shift, shift + 1) for dx in range(-shift, shift + 1)]
    rounds = -(-n // m)
    if rounds > len(offsets):
        raise ValueError(f"{n} images from {m} need {rounds} distinct shifts per image; only {len(offsets)} "
                         f"exist within +-{shift} px")
    rng = np.random.default_rng(seed)
    # each source image gets `rounds` distinct offsets (one random permutation of the offsets per image)
    pick = np.argsort(rng.random((m, len(offsets))), axis=1)[:, :rounds]  # (m, rounds) offset indices
    src = np.tile(np.arange(m), rounds)  # round r covers every image once
    off = pick.T.reshape(-1)  # matching offset of each (round, image)
    keep = np.sort(rng.permutation(len(src))[:n]) if len(src) > n else np.arange(len(src))
    src, off = src[keep], off[keep]
    padded = np.zeros((m, h + 2 * shift, w + 2 * shift), np.uint8)
    padded[:, shift:shift + h, shift:shift + w] = x
    out = np.empty((len(src), h, w), np.uint8)
    for k, (dy, dx) in enumerate(offsets):
        rows = np.flatnonzero(off == k)
        if len(rows):
            # output pixel (r, c) = input pixel (r - dy, c - dx): a shift by dy down, dx right
            out[rows] = padded[src[rows], shift - dy:shift - dy + h, shift - dx:shift - dx + w]
    order = rng.permutation(len(out))
    return out[order], y[src][order].astype(np.uint8)


def source_digits():
    """The 5,000 real MNIST digits of ``kreg.data.load("mnist5k")`` as uint8: (x_train, y_train, x_test, y_test)."""
    import numpy as np

    from kreg.data import load

    ds = load("mnist5k", val_fraction=0.0, verbose=False)

    def u8(a):
        return np.round(np.asarray(a)[..., 0] * 255.0).astype(np.uint8)

    return u8(ds.x_train), ds.y_train.astype(np.uint8), u8(ds.x_test), ds.y_test.astype(np.uint8)


def make_mnist_dir(folder, *, n_train=N_TRAIN, n_test=N_TEST, seed=DATA_SEED, source=None):
    """Write MNIST-shaped IDX files into ``<folder>/mnist/``; returns a description of what was written.

    ``source``: ``(x_train, y_train, x_test, y_test)`` uint8 digits to tile
    (default: :func:`source_digits`, the 5,000 real ones).
    """
    xs, ys, xts, yts = source if source is not None else source_digits()
    x, y = tile_shifted(xs, ys, n_train, seed=seed)
    xt, yt = tile_shifted(xts, yts, n_test, seed=seed + 1)
    d = Path(folder) / "mnist"
    d.mkdir(parents=True, exist_ok=True)
    for key, arr in (("x_train", x), ("y_train", y), ("x_test", xt), ("y_test", yt)):
        write_idx(d / IDX_NAMES[key], arr)
    return {"folder": str(d), "n_train": int(len(x)), "n_test": int(len(xt)), "seed": seed, "shift_px": SHIFT,
            "source": (f"{len(xs)} train / {len(xts)} test real MNIST digits of kreg.data.load('mnist5k') "
                       f"tiled with distinct shifts in [-{SHIFT}, {SHIFT}]^2 px (zero fill), shuffled"
                       if source is None else "caller's digits tiled with shifts")}


# ------------------------------------------------------------------ lessons
all_lessons = bench.all_lessons


def lesson_defaults(lesson):
    """``{"epochs", "seeds", "dataset"}`` of the ``Lesson(...)`` call in ``lessons/<lesson>.py`` (literals only)."""
    out = {"epochs": 10, "seeds": 1, "dataset": "mnist"}  # kreg.lesson.Lesson's own defaults
    try:
        tree = ast.parse((LESSONS_DIR / f"{lesson}.py").read_text())
    except (OSError, SyntaxError):
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Lesson":
            for kw in node.keywords:
                if kw.arg in out:
                    try:
                        out[kw.arg] = ast.literal_eval(kw.value)
                    except ValueError:
                        pass
            break
    return out


def _tree(pid):
    """``pid`` and all its descendants (from /proc/<pid>/task/*/children)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                try:
                    todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
                except (OSError, ValueError):
                    pass
        except OSError:
            pass
    return seen


def _status_kb(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss_bytes(pid):
    """Sum of VmRSS over the process tree of ``pid`` (bytes)."""
    return sum(_status_kb(p, "VmRSS") for p in _tree(pid)) * 1024


def measure(cmd, *, env, cwd, timeout, cap_bytes, poll=0.1):
    """Run ``cmd``; returns ``{status, returncode, wall_s, peak_rss_bytes, ..., output}``.

    ``status``: ``ok``, ``failed`` (non-zero exit), ``over_cap`` (killed by
    the watchdog) or ``timeout``. The child runs in its own session so that
    the whole tree it starts can be killed.
    """
    log = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    peak_tree = hwm = 0
    status, killed_at, rusage, code = None, None, None, None
    try:
        while True:
            pid_done, wstatus, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid_done == proc.pid:
                rusage, code = ru, os.waitstatus_to_exitcode(wstatus)
                proc.returncode = code  # reaped here: keep Popen from waiting again
                break
            rss = tree_rss_bytes(proc.pid)
            hwm = max(hwm, _status_kb(proc.pid, "VmHWM") * 1024)
            peak_tree = max(peak_tree, rss)
            elapsed = time.perf_counter() - t0
            if rss > cap_bytes or elapsed > timeout:
                status = "over_cap" if rss > cap_bytes else "timeout"
                killed_at = rss
                _kill_tree(proc.pid)
                _, wstatus, rusage = os.wait4(proc.pid, 0)
                code = os.waitstatus_to_exitcode(wstatus)
                proc.returncode = code
                break
            time.sleep(poll)
    except BaseException:
        if proc.returncode is None:
            _kill_tree(proc.pid)
            proc.wait()
        raise
    wall = time.perf_counter() - t0
    log.seek(0)
    output = log.read().decode(errors="replace")
    log.close()
    maxrss = rusage.ru_maxrss * 1024 if rusage is not None else 0
    if status is None:
        status = "ok" if code == 0 else "failed"
    return {"status": status, "returncode": code, "wall_s": round(wall, 2),
            "peak_rss_bytes": max(maxrss, peak_tree, hwm), "ru_maxrss_bytes": maxrss,
            "peak_tree_rss_polled_bytes": peak_tree, "killed_at_bytes": killed_at, "output": output}


def _kill_tree(pid):
    """SIGKILL the session (process group) this benchmark started for one lesson."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _datasets(results):
    """``{requested: {"used", "source", "sizes", "fell_back"}}`` from a lesson's results.json."""
    out = {}
    for requested, d in (results or {}).get("dataset", {}).items():
        out[requested] = {"used": d.get("name"), "source": d.get("source"), "sizes": d.get("sizes"),
                          "fell_back": bool(d.get("fallback_reason"))}
    return out


def _mnist_train(datasets):
    d = (datasets or {}).get("mnist")
    if not d or not d.get("sizes"):
        return None
    return d["sizes"].get("train")


def default_offline_record(lesson, backend, runs=RUNS, records=None):
    """The wall time of the lesson's default offline run, from the slow suite's records, or None.

    Returns ``{"wall_s", "from", "datasets"}`` or ``None``. Read from
    ``lessons/results/<lesson>.<backend>.json`` (the slow suite runs the
    default setting), else ``runs/<lesson>/<backend>/results.json`` when its
    config is a default run: no ``--quick``, the lesson's default epochs and
    seeds, and no MNIST from files (it ran on the offline fallback).
    """
    runs = Path(runs)
    records = Path(records) if records is not None else RUNS.parent / "lessons" / "results"
    rec = records / f"{lesson}.{backend}.json"
    try:
        data = json.loads(rec.read_text())
        if isinstance(data.get("wall_time_s"), (int, float)):
            datasets = {k: {"used": v.get("used"), "sizes": v.get("sizes")}
                        for k, v in (data.get("dataset") or {}).items()}
            return {"wall_s": float(data["wall_time_s"]), "from": f"lessons/results/{rec.name}",
                    "datasets": datasets, "date": data.get("date")}
    except (OSError, ValueError, AttributeError):
        pass
    res = runs / lesson / backend / "results.json"
    try:
        data = json.loads(res.read_text())
    except (OSError, ValueError):
        return None
    cfg = data.get("config") or {}
    want = lesson_defaults(lesson)
    datasets = _datasets(data)
    offline = all(d.get("fell_back") or d.get("used") != "mnist" for d in datasets.values())
    if (not isinstance(data.get("wall_time_s"), (int, float)) or cfg.get("quick") or cfg.get("epochs") != want["epochs"]
            or cfg.get("seeds") != want["seeds"] or not offline):
        return None
    return {"wall_s": float(data["wall_time_s"]), "from": str(res.relative_to(runs.parent)), "datasets": datasets,
            "date": data.get("started_at")}


def extrapolate(default_wall_s, scale_datasets, default_datasets):
    """``(extrapolated seconds or None, factor or None, note)`` by the formula in :data:`FORMULA`."""
    if default_wall_s is None:
        return None, None, NO_DEFAULT
    if "mnist" not in (scale_datasets or {}):
        if scale_datasets:
            return round(default_wall_s, 1), 1.0, "extrapolated: the lesson loads no mnist data (factor 1)"
        return None, None, "the MNIST-scale run recorded no datasets"
    n_scale, n_default = _mnist_train(scale_datasets), _mnist_train(default_datasets)
    if not n_scale or not n_default:
        return None, None, "training-set sizes missing from a record"
    factor = n_scale / n_default
    return round(default_wall_s * factor, 1), round(factor, 3), (
        f"extrapolated: {default_wall_s:.1f} s x {n_scale:,} / {n_default:,} training examples")


def lesson_cmd(lesson, backend, out, *, quick=False, default_run=False):
    cmd = [sys.executable, str(LESSONS_DIR / f"{lesson}.py"), "--backend", backend, "--out", str(out),
           "--verbose", "0"]
    if default_run:
        return cmd
    return cmd + (["--quick"] if quick else ["--seeds", "1", "--epochs", "1"])


def lesson_env(backend, data_dir):
    env = dict(os.environ, KERAS_BACKEND=backend, KREG_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg",
               PYTHONUNBUFFERED="1")
    env.pop("KREG_ARGS", None)  # the flags are the ones this benchmark passes
    if data_dir is None:
        env.pop("KREG_DATA_DIR", None)
    else:
        env["KREG_DATA_DIR"] = str(data_dir)
    return env


def run_lesson(lesson, backend, data_dir, work, *, timeout, cap_bytes, budget_bytes, quick=False, poll=0.1):
    """One short run of ``lesson`` at MNIST scale under ``backend``; its entry for the results file."""
    out = Path(work) / f"{lesson}.{backend}"
    cmd = lesson_cmd(lesson, backend, out, quick=quick)
    m = measure(cmd, env=lesson_env(backend, data_dir), cwd=ROOT, timeout=timeout, cap_bytes=cap_bytes, poll=poll)
    try:
        results = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        results = None
    peak = m["peak_rss_bytes"]
    if m["status"] == "over_cap":
        rss_note = f"over the cap (killed at {m['killed_at_bytes'] / GIB:.1f} GB)"
        within = False
    elif m["status"] == "timeout":
        rss_note = f"timed out after {timeout} s (killed; peak so far {peak / GIB:.2f} GB, a lower bound)"
        within = False if peak > budget_bytes else None
    elif m["status"] == "failed":
        rss_note = f"lesson failed (exit {m['returncode']}); peak before it stopped"
        within = peak <= budget_bytes
    else:
        rss_note = None
        within = peak <= budget_bytes
    datasets = _datasets(results)
    entry = {
        "lesson": lesson, "backend": backend, "status": m["status"], "returncode": m["returncode"],
        "peak_rss_mb": round(peak / MIB, 1), "within_budget": within, "rss_note": rss_note,
        "ru_maxrss_mb": round(m["ru_maxrss_bytes"] / MIB, 1),
        "peak_tree_rss_polled_mb": round(m["peak_tree_rss_polled_bytes"] / MIB, 1),
        "short_run_wall_s": m["wall_s"],
        "short_run_lesson_wall_s": (results or {}).get("wall_time_s"),
        "short_run_flags": ["<tmp>" if a == str(out) else a for a in cmd[2:]],
        "datasets": datasets,
        "device": (results or {}).get("device"),
        "lesson_versions": (results or {}).get("versions"),
    }
    if m["status"] != "ok":
        entry["output_tail"] = m["output"][-2000:]
    return entry


def default_run(lesson, backend, work, *, timeout, cap_bytes):
    """Run the lesson's default setting offline (no ``KREG_DATA_DIR``); a record like :func:`default_offline_record`."""
    out = Path(work) / f"{lesson}.{backend}.default"
    cmd = lesson_cmd(lesson, backend, out, default_run=True)
    m = measure(cmd, env=lesson_env(backend, None), cwd=ROOT, timeout=timeout, cap_bytes=cap_bytes)
    try:
        results = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        results = None
    if m["status"] != "ok" or results is None:
        return None, f"default run here: {m['status']} (exit {m['returncode']})"
    return {"wall_s": float(results["wall_time_s"]), "from": "run here (--default-runs)",
            "datasets": _datasets(results), "date": results.get("started_at")}, None


def run_backend(backend, lessons, data_dir, *, timeout, cap_bytes, budget_bytes, quick=False, default_runs=False,
                runs=RUNS, poll=0.1, log=print):
    """Every lesson under one backend; the per-backend result dict (as ``run.py`` stores it)."""
    load0 = bench.loadavg()
    t0 = time.perf_counter()
    entries = {}
    with tempfile.TemporaryDirectory(prefix=f"kreg-mnist-scale-{backend}-") as work:
        for lesson in lessons:
            log(f"   {lesson} / {backend} ...", flush=True)
            e = run_lesson(lesson, backend, data_dir, work, timeout=timeout, cap_bytes=cap_bytes,
                           budget_bytes=budget_bytes, quick=quick, poll=poll)
            e["measured_at"] = _dt.datetime.now().isoformat(timespec="seconds")
            e["loadavg_after"] = bench.loadavg()
            rec, why = default_offline_record(lesson, backend, runs), None
            if rec is None and default_runs:
                rec, why = default_run(lesson, backend, work, timeout=timeout, cap_bytes=cap_bytes)
            e["default_offline_wall_s"] = rec["wall_s"] if rec else None
            e["default_offline_from"] = rec["from"] if rec else None
            e["default_offline_datasets"] = rec["datasets"] if rec else None
            e["default_offline_note"] = None if rec else (why or NO_DEFAULT)
            x, factor, note = extrapolate(e["default_offline_wall_s"], e["datasets"] if e["status"] == "ok" else None,
                                          rec["datasets"] if rec else None)
            e["extrapolated_full_mnist_wall_s"] = x
            e["extrapolation_factor"] = factor
            e["extrapolation_note"] = note
            entries[lesson] = e
            log(f"     {_row(e)}", flush=True)
    device = next((e["device"] for e in entries.values() if e.get("device")), None)
    return {
        "benchmark": "mnist_scale", "backend": backend, "device": device or "unknown (no lesson finished)",
        "versions": bench.versions(backend), "loadavg_start": load0, "loadavg_end": bench.loadavg(),
        "settings": {"data": None, "timeout_s": timeout, "cap_gb": cap_bytes / GIB, "budget_gb": budget_bytes / GIB,
                     "quick": quick, "default_runs": default_runs, "memory_unit": "MiB (2^20 bytes); GB = GiB",
                     "short_run_flags": "--quick" if quick else "--seeds 1 --epochs 1 --verbose 0 --out <tmp>",
                     "extrapolation": FORMULA},
        "lessons": entries, "wall_s": round(time.perf_counter() - t0, 1),
    }


# ------------------------------------------------------------------ table
def _fmt_s(s):
    return "-" if s is None else f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


def _row(e):
    within = {True: "yes", False: "NO", None: "?"}[e["within_budget"]]
    status = "" if e["status"] == "ok" else f" [{e['rss_note']}]"
    used = ",".join(sorted({d["used"] or "?" for d in e["datasets"].values()})) or "-"
    return (f"{e['lesson']:22} {e['backend']:10} {e['peak_rss_mb']:>9,.0f} {within:>6} "
            f"{_fmt_s(e['short_run_wall_s']):>9} {_fmt_s(e['default_offline_wall_s']):>9} "
            f"{_fmt_s(e['extrapolated_full_mnist_wall_s']):>10}  {used}{status}")


def table(result):
    lines = [f"  [{result['backend']} on {result['device']}, load {result['loadavg_start']} -> "
             f"{result['loadavg_end']}; data: {result['settings'].get('data')}]",
             f"  {'lesson':22} {'backend':10} {'peak MiB':>9} {'<=3GB':>6} {'short':>9} {'default':>9} "
             f"{'extrap.':>10}  data used"]
    lines += ["  " + _row(e) for e in result["lessons"].values()]
    over = [e["lesson"] for e in result["lessons"].values() if e["within_budget"] is False]
    lines.append(f"  over the {result['settings']['budget_gb']:g} GB budget: {', '.join(over) or 'none'}; "
                 f"'extrap.' = extrapolated full-MNIST wall time ({FORMULA.split(';')[0]})")
    return "\n".join(lines)


# ------------------------------------------------------------------ CLI
def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default=None,
                   help="space- or comma-separated backends (default: all three; run.py passes --backend)")
    p.add_argument("--backend", choices=bench.BACKENDS, default=None, help="one backend (as run.py calls it)")
    p.add_argument("--lessons", nargs="+", default=None, help="lesson names (default: every lessons/lNN_*.py)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per lesson run before it is killed")
    p.add_argument("--cap-gb", type=float, default=8.0, help="kill a lesson whose process tree's RSS exceeds this")
    p.add_argument("--budget-gb", type=float, default=3.0, help="the memory budget per lesson (within_budget)")
    p.add_argument("--poll", type=float, default=0.1, help="seconds between RSS polls")
    p.add_argument("--default-runs", action="store_true",
                   help="run the default offline setting where no record exists (slow)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="write (or reuse, if it holds mnist/ already) the MNIST-shaped files here "
                        "(default: a temporary folder, removed afterwards)")
    p.add_argument("--data-seed", type=int, default=DATA_SEED, help="seed of the tiling shifts and order")
    p.add_argument("--quick", action="store_true", help="smoke setting: 6,000 + 1,000 images, lessons in --quick")
    p.add_argument("--repeats", type=int, default=None, help="accepted for run.py; ignored (one run per lesson)")
    p.add_argument("--json", type=Path, default=None, help="write this run's per-backend result here (run.py)")
    p.add_argument("--out", type=Path, default=bench.RESULTS, help="folder of lessons-<device>-<date>.json")
    return p


def parse(argv=None):
    p = parser()
    args = p.parse_args(argv)
    bench.backends_and_lessons(p, args)
    for flag in ("timeout", "cap_gb", "budget_gb", "poll"):
        value = getattr(args, flag)
        if not value > 0 or value != value or value == float("inf"):
            p.error(f"argument --{flag.replace('_', '-')}: expected a positive number, received {value!r}")
    if args.budget_gb > args.cap_gb:
        p.error(f"argument --budget-gb: must not exceed --cap-gb ({args.cap_gb:g}); received {args.budget_gb:g}")
    if args.data_seed < 0:
        p.error(f"argument --data-seed: expected an integer >= 0, received {args.data_seed}")
    return args


def main(argv=None):
    args = parse(argv)
    started = _dt.datetime.now()
    n_train, n_test = (QUICK_TRAIN, QUICK_TEST) if args.quick else (N_TRAIN, N_TEST)
    with tempfile.TemporaryDirectory(prefix="kreg-mnist-scale-data-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        if args.data_dir and all((data_dir / "mnist" / f).is_file() for f in IDX_NAMES.values()):
            data = {"folder": str(data_dir / "mnist"), "reused": True}
        else:
            t0 = time.perf_counter()
            data = make_mnist_dir(data_dir, n_train=n_train, n_test=n_test, seed=args.data_seed)
            data["written_in_s"] = round(time.perf_counter() - t0, 1)
        print(f"== MNIST scale: {data.get('n_train', '?')} + {data.get('n_test', '?')} images in {data['folder']}; "
              f"{len(args.lesson_list)} lessons x {args.backend_list}, one at a time, timeout {args.timeout:g} s, "
              f"cap {args.cap_gb:g} GB, budget {args.budget_gb:g} GB", flush=True)
        per_backend = {}
        for backend in args.backend_list:
            res = run_backend(backend, args.lesson_list, data_dir, timeout=args.timeout,
                              cap_bytes=args.cap_gb * GIB, budget_bytes=args.budget_gb * GIB, quick=args.quick,
                              default_runs=args.default_runs, poll=args.poll)
            res["settings"]["data"] = data
            res["settings"]["lessons"] = args.lesson_list
            per_backend[backend] = res
    print("")
    for res in per_backend.values():
        print(table(res))
    if args.json:  # run.py's per-backend call: it writes the combined file
        bench.write_json_atomic(args.json, per_backend[args.backend_list[0]])
        return per_backend
    settings = {"quick": args.quick, "backends": args.backend_list, "lessons": args.lesson_list,
                "timeout_s": args.timeout, "cap_gb": args.cap_gb, "budget_gb": args.budget_gb,
                "default_runs": args.default_runs, "extrapolation": FORMULA}
    mach = bench.machine()
    target = bench.result_path("mnist_scale", mach["gpu"] or mach["cpu"], started.strftime("%Y-%m-%d"), args.out)
    per_backend, settings = bench.merge_previous(target, per_backend, settings)
    path = bench.write_results("mnist_scale", per_backend, settings=settings, out_dir=args.out, started=started)
    print(f"   -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
    return per_backend


if __name__ == "__main__":
    main()
