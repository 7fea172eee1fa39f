"""Where an epoch of ``model.fit`` goes under Keras's PyTorch backend, against the hand-written loop.

Issue 15 asks why the lesson harness under the PyTorch backend takes about
2.6x the epoch of a hand-written PyTorch loop of the same model
(``benchmarks/lesson_cost.py``), and to fix what kreg controls. This
profiles one epoch of each with ``cProfile`` (after a warm-up epoch) and
sorts every function's *own* time into buckets by where its code lives:

- ``torch compute``: PyTorch's C++ operators and autograd (the work both
  loops must do);
- ``keras trainer``: ``keras/src/trainers`` and ``backend/torch/trainer.py``
  (the per-step Python of ``fit``: ``train_step``, the epoch iterator);
- ``keras data adapter``: ``keras/src/trainers/data_adapters`` (slicing
  NumPy batches and converting them to tensors);
- ``keras layers/ops``: ``Layer.__call__``, ``Operation.__call__`` and the
  backend's op wrappers (argument checks, dtype and autocast scopes,
  name scopes, per call of every layer);
- ``keras optimizer``, ``keras metrics``, ``keras callbacks``,
  ``keras losses``, ``tree utilities`` (``keras/src/tree``, optree);
- ``kreg`` (the harness's callback and kreg's layers);
- ``python/other``: the rest (builtins, NumPy, the profiler).

cProfile itself slows Python-heavy code more than C++-heavy code, so the
buckets are shares of a profiled epoch, not of an unprofiled one; the
unprofiled ratio is ``benchmarks/lesson_cost.py``'s. The model, data and
batch are lesson_cost's (the STAT 453 dropout MLP, batch 256, SGD 0.1).

Usage::

    KERAS_BACKEND=torch python benchmarks/torch_profile.py [--quick] [--json out.json] [--top 25]
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lesson_cost  # noqa: E402
import run as bench  # noqa: E402

BUCKETS = (
    ("keras data adapter", ("keras/src/trainers/data_adapters",)),
    ("keras trainer", ("keras/src/trainers", "keras/src/backend/torch/trainer.py")),
    ("keras optimizer", ("keras/src/optimizers", "keras/src/backend/torch/optimizers")),
    ("keras metrics", ("keras/src/metrics",)),
    ("keras callbacks", ("keras/src/callbacks",)),
    ("keras losses", ("keras/src/losses",)),
    ("tree utilities", ("keras/src/tree", "optree")),
    ("keras layers/ops", ("keras/src/layers", "keras/src/ops", "keras/src/backend", "keras/src/models",
                          "keras/src/utils", "keras/src/random", "keras/src/dtype_policies")),
    ("kreg", ("/kreg/",)),
    ("torch python", ("torch/",)),
)


def bucket(filename, funcname):
    f = filename.replace("\\", "/")
    if f == "~" and ("torch" in funcname or "run_backward" in funcname or "_C." in funcname):
        return "torch compute"
    for name, parts in BUCKETS:
        if any(p in f for p in parts):
            return name
    return "python/other"


def profile(fn):
    """``(wall_s, {bucket: own seconds}, top functions)`` of one profiled call of ``fn``."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    wall = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    buckets, rows = {}, []
    for (filename, line, funcname), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        b = bucket(filename, funcname)
        buckets[b] = buckets.get(b, 0.0) + tottime
        rows.append({"function": f"{Path(filename).name}:{line}({funcname})" if filename != "~" else funcname,
                     "bucket": b, "calls": ncalls, "own_s": tottime, "cumulative_s": cumtime})
    rows.sort(key=lambda r: -r["own_s"])
    return wall, buckets, rows


def main(argv=None):
    p = bench.common_parser(__doc__.splitlines()[0])
    p.add_argument("--top", type=int, default=25, help="functions listed by own time")
    args = p.parse_args(argv)
    backend = bench.select_backend(args.backend or "torch")
    if backend != "torch":
        p.error(f"Invalid value received for argument `--backend`. Expected 'torch' (this profiles Keras's "
                f"PyTorch trainer). Received: backend={backend!r}")
    x, y, xv, yv, source = lesson_cost.load_data(args.quick)
    torch_fns = lesson_cost.torch_student(x, y, xv, yv)
    keras_fns, desc, run, _ = lesson_cost.keras_variants(backend, x, y, xv, yv, args.quick)
    cases = {"torch_loop_val": torch_fns["torch_loop_val"], "harness": keras_fns["harness"],
             "fit": keras_fns["fit"]}
    out = {}
    for name, fn in cases.items():
        fn()  # warm-up epoch
        wall, buckets, rows = profile(fn)
        out[name] = {"profiled_wall_s": wall, "buckets_s": dict(sorted(buckets.items(), key=lambda kv: -kv[1])),
                     "top": rows[: args.top]}
    steps = -(-len(x) // lesson_cost.BATCH)
    result = {"benchmark": "torch_profile", "backend": backend, "device": bench.backend_device(backend),
              "versions": bench.versions(backend), "loadavg": bench.loadavg(),
              "settings": {"data": source, "n_train": len(x), "n_val": len(xv), "batch": lesson_cost.BATCH,
                           "steps_per_epoch": steps, "quick": args.quick},
              "cases": out}
    return bench.emit(args, result, table)


def table(result):
    s = result["settings"]
    lines = [f"  torch profile: {s['data']}, {s['n_train']} examples, batch {s['batch']} ({s['steps_per_epoch']} "
             f"steps), load {result['loadavg']}; own time per bucket, ms per step (share of the profiled epoch)"]
    names = list(result["cases"])
    buckets = sorted({b for c in result["cases"].values() for b in c["buckets_s"]},
                     key=lambda b: -result["cases"]["harness"]["buckets_s"].get(b, 0.0))
    lines.append("  " + f"{'bucket':22}" + "".join(f"{n:>22}" for n in names))
    for b in buckets:
        cells = []
        for n in names:
            c = result["cases"][n]
            v = c["buckets_s"].get(b, 0.0)
            cells.append(f"{1000 * v / s['steps_per_epoch']:8.3f} ({v / c['profiled_wall_s']:5.1%})")
        lines.append("  " + f"{b:22}" + "".join(f"{cell:>22}" for cell in cells))
    lines.append("  " + f"{'profiled epoch':22}" + "".join(
        f"{result['cases'][n]['profiled_wall_s']:>20.2f} s" for n in names))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
