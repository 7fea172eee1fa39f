"""Run kreg's benchmarks for each Keras backend and print ratios measured side by side.

``make bench`` (or ``python benchmarks/run.py``) runs every benchmark once per
backend, each backend in its own subprocess (Keras fixes its backend at
import), prints one short table of RATIOS per benchmark (A/B times measured
interleaved in the same process, medians over repeats; absolute medians are
shown next to them only for orientation), and writes one JSON file per
benchmark to ``benchmarks/results/<benchmark>-<device>-<date>.json``
(atomically) with the device, the backend versions, the settings and the load
average of the machine while it ran.

Benchmarks (each also runs alone: ``KERAS_BACKEND=jax python benchmarks/layers.py``):

- ``layers``: kreg's layers vs the Keras built-ins (train step and
  inference, batch 256, STAT 453 MLP and a small CNN), PASS/MISS per target;
- ``lesson_cost``: one epoch of the l10_dropout setting under each backend
  vs a hand-written PyTorch loop, and kreg's lesson harness vs plain ``fit``;
- ``devices`` (not in the default list: it runs a lesson three times per
  backend; ``--only devices``): data parallelism vs one replicate seed a
  device on two fake CPU devices, written to ``devices-<device>-<date>.json``;
- ``group_seeds`` (not in the default list: it runs a lesson twice per
  backend; ``--only group_seeds``): an arm's replicate seeds trained one at a
  time vs as one grouped model (``--group-seeds``), written to
  ``group_seeds-<device>-<date>.json``;
- ``mnist_scale`` (not in the default list: it runs every lesson, tens of
  minutes per backend; ``--only mnist_scale``): each lesson's peak RSS and
  time on MNIST-sized data, written to ``lessons-<device>-<date>.json``;
- ``lesson_totals`` (not in the default list: it runs every lesson's default
  setting, an hour or more per backend; ``--only lesson_totals``): the total
  lesson time per backend, written to ``lesson_totals-<device>-<date>.json``.

Usage::

    python benchmarks/run.py [--quick] [--backends "tensorflow jax torch"]
                             [--repeats N] [--only layers lesson_cost] [--out DIR]

This module also holds the helpers the benchmark scripts share (timing,
device name, versions, JSON). It never imports Keras itself.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
BACKENDS = ("tensorflow", "jax", "torch")
BENCHMARKS = ("layers", "lesson_cost", "mnist_scale", "devices", "group_seeds", "lesson_totals")
DEFAULT_BENCHMARKS = ("layers", "lesson_cost")  # the others run whole lessons: asked for by name
RESULT_NAMES = {"mnist_scale": "lessons"}  # file-name stem when it is not the benchmark's name
NOTES = {"mnist_scale": "peak RSS and wall time of each lesson's short run on MNIST-sized data; "
                        "extrapolated times are labelled as such (see settings.extrapolation)",
         "lesson_totals": "wall time of each lesson's default offline run, one at a time in a fresh process; "
                          "totals per backend (see loadavg_before/after of each entry for the machine's load)"}
TIMEOUTS = {"mnist_scale": 18 * 600 + 600, "lesson_totals": 6 * 3600}  # seconds per backend without --timeout


# ---------------------------------------------------------------- shared helpers
def select_backend(backend):
    """Set ``KERAS_BACKEND`` before Keras is imported; refuse a mismatch after."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["KREG_OFFLINE"] = "1"  # benchmarks never touch the network
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if backend is not None and backend != current:
            raise RuntimeError(f"Keras is already imported with backend {current!r}; run the benchmark "
                               f"for {backend!r} in a new process (KERAS_BACKEND={backend}).")
        return current
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    import keras

    return keras.backend.backend()


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def gpu_name():
    """Name of the first NVIDIA GPU (``nvidia-smi``), or ``None``."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
    return names[0] if out.returncode == 0 and names else None


def machine():
    """What ran the benchmark: CPU model, core count, GPU name if any."""
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "gpu": gpu_name(),
            "platform": platform.platform(), "python": platform.python_version()}


def backend_device(backend):
    """The device the backend computes on, in words (``cpu`` or the GPU's name)."""
    try:
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            return d.platform if d.platform == "cpu" else f"{d.platform}:{getattr(d, 'device_kind', '')}"
        if backend == "torch":
            import torch

            return f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if not gpus:
                return "cpu"
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"gpu:{details.get('device_name', gpus[0].name)}"
    except Exception as e:  # never fail a benchmark over a device name
        return f"unknown ({type(e).__name__})"
    return "unknown"


def versions(backend=None):
    names = ["keras", "numpy", "kreg"] + ([backend] if backend else list(BACKENDS))
    if backend == "torch" or backend is None:
        names = list(dict.fromkeys(names + ["torch"]))
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


def loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def write_json_atomic(path, obj):
    """JSON to ``path`` through a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, default=_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def emit(args, result, table):
    """A benchmark script's ending: write ``result`` to ``--json`` (atomically), print its table, return it."""
    if args.json:
        write_json_atomic(args.json, result)
    print(table(result))
    return result


def _default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    return repr(o)


def interleaved(fns, *, repeats, warmup=2, chunk_s=0.2, steps=None, max_steps=200):
    """Time several zero-argument callables side by side.

    Every callable is warmed up (``warmup`` calls: compilation, tracing), then
    one chunk size ``n`` is chosen for all of them so that a chunk of the
    median callable lasts about ``chunk_s`` (or ``steps`` if given). Each
    repeat times ``n`` calls of every callable in turn, the order rotated
    from one repeat to the next, so that A and B see the same machine load.

    Returns ``{name: [seconds per call, one per repeat]}``; pair entries of
    the same index to get per-repeat ratios (see :func:`ratio`).
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    if steps is None:
        probe = []
        for name in names:
            t0 = time.perf_counter()
            fns[name]()
            probe.append(time.perf_counter() - t0)
        per_call = statistics.median(probe)
        steps = int(min(max_steps, max(1, round(chunk_s / max(per_call, 1e-6)))))
    times = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            f = fns[name]
            t0 = time.perf_counter()
            for _ in range(steps):
                f()
            times[name].append((time.perf_counter() - t0) / steps)
    return times, steps


def ratio(times, a, b):
    """Median over repeats of the paired ratio time[a]/time[b] (same repeat, same load)."""
    pairs = [x / y for x, y in zip(times[a], times[b]) if y > 0]
    return statistics.median(pairs) if pairs else float("nan")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_time(s):
    if s is None or not isinstance(s, (int, float)) or math.isnan(s):
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} us"


def fmt_ratio(r):
    return "-" if r is None or (isinstance(r, float) and math.isnan(r)) else f"{r:.2f}x"


def common_parser(description):
    """Flags every benchmark script accepts when run alone."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--backend", choices=BACKENDS, default=None, help="default: $KERAS_BACKEND")
    p.add_argument("--quick", action="store_true", help="tiny setting (smoke test)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per case")
    p.add_argument("--json", type=Path, default=None, help="write this backend's results here")
    return p


def lesson_parser(description, *, lesson, flags, quick_flags):
    """:func:`common_parser` plus the flags of a benchmark that runs one lesson (``devices``, ``group_seeds``)."""
    p = common_parser(description)
    p.add_argument("--lesson", default=lesson, help="the lesson to run")
    p.add_argument("--flags", default=None, help=f"its flags (default {flags!r}; quick {quick_flags!r})")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per lesson run")
    return p


def lesson_args(p, argv, *, flags, quick_flags):
    """Parse a lesson benchmark's flags; returns ``(args, backend, lesson_flags)`` (a bad lesson stops here)."""
    import shlex

    args = p.parse_args(argv)
    backend = args.backend or os.environ.get("KERAS_BACKEND", "jax")
    if not (ROOT / "lessons" / f"{args.lesson}.py").is_file():
        p.error(f"Invalid value received for argument `--lesson`. Expected a lesson in lessons/. "
                f"Received: lesson={args.lesson!r}")
    chosen = args.flags if args.flags is not None else quick_flags if args.quick else flags
    return args, backend, shlex.split(chosen)


def run_lesson(cmd, env, out, *, label, timeout):
    """Run one lesson command whose ``--out`` is ``out``; returns ``(its results.json as a dict, wall seconds)``."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{label}: exit {proc.returncode}: {(proc.stdout + proc.stderr)[-2000:]}")
    return json.loads((Path(out) / "results.json").read_text()), wall


def rotated_runs(names, repeats, run_one):
    """``{name: [run_one(name) per repeat]}``, the order of the names rotated from one repeat to the next."""
    names = list(names)
    runs = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            runs[name].append(run_one(name))
    return runs


def all_lessons():
    """Every lesson's name (``lessons/lNN_*.py`` without ``.py``), sorted."""
    return sorted(p.stem for p in (ROOT / "lessons").glob("l[0-9][0-9]_*.py"))


def backends_and_lessons(p, args, *, default_backends=BACKENDS):
    """Check a lesson benchmark's ``--backend``/``--backends`` and ``--lessons``; set ``args.backend_list``
    and ``args.lesson_list`` (``p.error`` names a bad value)."""
    if args.backend and args.backends:
        p.error("give --backend or --backends, not both")
    names = [args.backend] if args.backend else [b for b in re.split(r"[,\s]+", args.backends or "") if b]
    names = names or list(default_backends)
    bad = [b for b in names if b not in BACKENDS]
    if bad:
        p.error(f"argument --backends: unknown backend(s) {bad}; choose from {list(BACKENDS)}")
    args.backend_list = list(dict.fromkeys(names))
    known = all_lessons()
    lessons = [name.removesuffix(".py") for name in (args.lessons or known)]
    unknown = [name for name in lessons if name not in known]
    if unknown:
        p.error(f"argument --lessons: unknown lesson(s) {unknown}; choose from {known}")
    args.lesson_list = lessons
    return args


def merge_previous(path, per_backend, settings):
    """Keep the entries of an earlier run of the same day and machine (``path``) that this run did not redo.

    Several invocations (one backend, a few lessons re-run) then add up to one
    ``<benchmark>-<device>-<date>.json`` (``mnist_scale``, ``lesson_totals``); an entry measured now replaces the old
    one of the same lesson and backend, and each entry keeps its own
    ``measured_at``.
    """
    try:
        old = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return per_backend, settings
    return merge_docs(old, per_backend, settings)


def read_json(path):
    """The JSON document at ``path``, or ``None`` when there is none (or it is not JSON)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def merge_docs(old, per_backend, settings):
    """:func:`merge_previous` with the earlier document ``old`` already read (``None``: nothing to keep)."""
    if not old:
        return per_backend, settings
    merged = dict(old.get("backends") or {})
    for backend, res in per_backend.items():
        prev = merged.get(backend)
        if isinstance(prev, dict) and isinstance(prev.get("lessons"), dict):
            res = dict(res, lessons=dict(sorted({**prev["lessons"], **res["lessons"]}.items())))
        merged[backend] = res
    earlier = (old.get("settings") or {}).get("runs") or [{k: v for k, v in (old.get("settings") or {}).items()
                                                           if k != "runs"} | {"date": old.get("date")}]
    return merged, dict(settings, backends=sorted(merged), runs=earlier + [dict(settings)])


# ---------------------------------------------------------------- orchestration
def slug(text):
    s = re.sub(r"\(r\)|\(tm\)|cpu @.*$", "", text.lower())
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s[:40] or "unknown"


def run_backend(bench, backend, *, quick, repeats, timeout):
    """Run ``benchmarks/<bench>.py`` for one backend in a subprocess; its result dict."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(HERE / f"{bench}.py"), "--backend", backend, "--json", str(out)]
        if quick:
            cmd.append("--quick")
        if repeats:
            cmd += ["--repeats", str(repeats)]
        env = dict(os.environ, KERAS_BACKEND=backend, KREG_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="3",
                   MPLBACKEND="Agg")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"backend": backend, "error": f"timed out after {timeout} s"}
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stdout + proc.stderr)[-3000:]
            return {"backend": backend, "error": f"exit {proc.returncode}", "output_tail": tail}
        result = json.loads(out.read_text())
        result["subprocess_wall_s"] = round(wall, 1)
        return result


def summarize(bench, per_backend):
    """The console table of one benchmark (a string), from the per-backend results."""
    module = _bench_module(bench)
    lines = []
    for backend, res in per_backend.items():
        if "error" in res:
            lines.append(f"  {backend}: FAILED ({res['error']})")
            if res.get("output_tail"):
                lines.append("    " + res["output_tail"].strip().replace("\n", "\n    "))
            continue
        lines.append(module.table(res))
    return "\n".join(lines)


def _bench_module(bench):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import importlib

    return importlib.import_module(bench)


def result_path(bench, device, date, out_dir=RESULTS):
    return Path(out_dir) / f"{RESULT_NAMES.get(bench, bench)}-{slug(device)}-{date}.json"


def write_results(bench, per_backend, *, settings, out_dir=RESULTS, started=None):
    """Write ``<bench>-<device>-<date>.json`` (atomically); returns its path."""
    mach = machine()
    device = mach["gpu"] or mach["cpu"]
    started = started or _dt.datetime.now()
    doc = {
        "benchmark": bench,
        "date": started.isoformat(timespec="seconds"),
        "device": device,
        "machine": mach,
        "settings": settings,
        "loadavg_end": loadavg(),
        "note": NOTES.get(bench, "ratios are A/B times measured interleaved in one process (median of "
                                 "per-repeat ratios); absolute times depend on the machine and its load "
                                 "(see loadavg per backend)"),
        "backends": per_backend,
    }
    return write_json_atomic(result_path(bench, device, started.strftime("%Y-%m-%d"), out_dir), doc)


def main(argv=None):
    p = argparse.ArgumentParser(description="Run kreg's benchmarks under each Keras backend.")
    p.add_argument("--backends", default=" ".join(BACKENDS),
                   help="space- or comma-separated backends (default: all three)")
    p.add_argument("--quick", action="store_true", help="tiny setting (smoke test; numbers meaningless)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per case (default per benchmark)")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(DEFAULT_BENCHMARKS))
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    p.add_argument("--timeout", type=int, default=None,
                   help="seconds per backend and benchmark (default 1800; mnist_scale 11400)")
    args = p.parse_args(argv)
    backends = [b for b in re.split(r"[,\s]+", args.backends) if b]
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        p.error(f"unknown backend(s) {bad}; choose from {list(BACKENDS)}")
    mach = machine()
    print(f"== kreg benchmarks on {mach['gpu'] or mach['cpu']} ({mach['cpu_count']} cores), "
          f"load average {loadavg()}{', QUICK setting' if args.quick else ''}", flush=True)
    failed = False
    for bench in args.only:
        started = _dt.datetime.now()
        per_backend = {}
        for backend in backends:
            print(f"-- {bench} / {backend} ...", flush=True)
            per_backend[backend] = run_backend(bench, backend, quick=args.quick, repeats=args.repeats,
                                               timeout=args.timeout or TIMEOUTS.get(bench, 1800))
            failed |= "error" in per_backend[backend]
        print(f"\n== {bench}")
        print(summarize(bench, per_backend))
        settings = {"quick": args.quick, "repeats": args.repeats, "backends": backends}
        path = write_results(bench, per_backend, settings=settings, out_dir=args.out, started=started)
        print(f"   -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}\n", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
