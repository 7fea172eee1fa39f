"""Run the test suite once per Keras backend and sum the results.

Keras fixes its backend at import, so each backend gets its own pytest
process with ``KERAS_BACKEND`` set. Prints a summary line per backend and,
last, ``total: N passed, N failed, N skipped``. Exits non-zero if any
backend fails, errors, or runs no test.

With ``--jobs N`` (default: the number of CPU cores, at most 3) up to N
backends run at the same time; each backend's output is printed whole when
it finishes, so logs stay readable. Most of a Keras test's time is
single-threaded (tracing, compiling, Python), so two processes on two cores
nearly halve the wall time.

The multi-device tests (``tests/test_distribution.py``) need 2 devices,
which a backend only gets when its process starts: for JAX and TensorFlow
they run once more in their own processes, with two fake CPU devices
(``KREG_FAKE_DEVICES=2``, see ``tests/conftest.py``), listed as
``jax[2 devices]`` and ``tensorflow[2 devices]``. ``--no-multi-device``
leaves them out (``make test-slow`` does: they have no slow tests).

Usage: python tests/matrix.py [--backends "tensorflow jax torch"] [--jobs N] [--no-multi-device] [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected|xfailed|xpassed)")


def parse_summary(text):
    """Counts from pytest's closing line, e.g. ``3 failed, 10 passed, 1 skipped in 2.0s``."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    lines = [ln for ln in text.splitlines() if re.search(r"\b(passed|failed|error|no tests ran)\b", ln)]
    if not lines:
        return counts
    for n, kind in COUNT.findall(lines[-1]):
        kind = "error" if kind.startswith("error") else kind
        if kind in counts:
            counts[kind] += int(n)
    return counts


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backends", default="tensorflow jax torch")
    p.add_argument("--jobs", type=int, default=None, help="backends run at once (default: CPU cores, at most 3)")
    p.add_argument("--no-multi-device", action="store_true",
                   help="skip the 2-fake-device runs of tests/test_distribution.py")
    args = p.parse_args(argv)
    backends = args.backends.split()
    # (label, backend, extra environment, pytest arguments)
    runs = [(b, b, {}, extra) for b in backends]
    if not args.no_multi_device:
        paths = [a for a in extra if a.endswith(".py") or "/" in a]
        options = [a for a in extra if a not in paths]
        if not paths or any("test_distribution" in a for a in paths):
            runs += [(f"{b}[2 devices]", b, {"KREG_FAKE_DEVICES": "2"}, ["tests/test_distribution.py", *options])
                     for b in backends if b in ("jax", "tensorflow")]
    jobs = max(1, min(args.jobs or min(os.cpu_count() or 1, 3), len(runs)))

    def run_one(run):
        label, backend, more_env, pytest_args = run
        env = dict(os.environ, KERAS_BACKEND=backend, KREG_OFFLINE="1", MPLBACKEND="Agg",
                   TF_CPP_MIN_LOG_LEVEL="3", **more_env)
        t0 = time.perf_counter()
        header = f"\n===== pytest under KERAS_BACKEND={backend}{label[len(backend):]} =====\n"
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-rs", *pytest_args], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        for line in proc.stdout:
            if jobs == 1:
                sys.stdout.write((header if not out else "") + line)
                sys.stdout.flush()
            out.append(line)
        rc = proc.wait()
        text = "".join(out)
        if jobs > 1:
            sys.stdout.write(header + text)
            sys.stdout.flush()
        return rc, parse_summary(text), time.perf_counter() - t0

    print(f"running the suite under {', '.join(r[0] for r in runs)} ({jobs} at a time)", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {r[0]: pool.submit(run_one, r) for r in runs}
        results = {label: f.result() for label, f in futures.items()}

    print("\n===== summary =====")
    ok = True
    for backend, (rc, c, wall) in results.items():
        ran = c["passed"] + c["failed"] + c["error"]
        # a 2-device run whose -k/-m options select none of its tests is fine (pytest exits 5)
        none_selected = "[" in backend and ran == 0 and rc == 5
        status = "ok" if (rc == 0 and ran > 0) or none_selected else ("NO TESTS RAN" if ran == 0 else "FAILED")
        ok &= status == "ok"
        print(f"{backend:>22}: {c['passed']} passed, {c['failed'] + c['error']} failed, "
              f"{c['skipped']} skipped in {wall:.0f}s  [{status}, exit {rc}]")
    tot = {k: sum(r[1][k] for r in results.values()) for k in ("passed", "failed", "skipped", "error")}
    print(f"total: {tot['passed']} passed, {tot['failed'] + tot['error']} failed, {tot['skipped']} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
