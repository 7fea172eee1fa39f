"""The lessons' verdicts on every backend: recorded by the slow suite, tabulated, compared.

``make test-slow`` runs each migrated lesson's default setting once per
backend (one pytest process each). Each run records its outcomes here
(:func:`record`, into ``lessons/results/<lesson>.<backend>.json``, committed:
the course site reads them, so it never trains); then this
script, run as ``python tests/verdicts.py``, writes one table -- lesson,
claim, and per backend the outcome, effect and 95% interval -- to
``lessons/VERDICTS.md`` (linked from the lessons README) and exits non-zero
when a claim holds on one backend and does not hold on another.

The expected outcomes live in ``lessons/verdicts.json``: the slow test of a
lesson compares its outcomes with them (:func:`check_expected`), so a change
of verdict is noticed. After a deliberate change of design, re-run every
backend with ``KREG_RECORD_VERDICTS=1 make test-slow ...`` to write the new
outcomes into that file, and commit it with the change.

Each record says which code produced it: the commit checked out (``commit``,
with ``dirty`` when the work tree differed from it) and the git blob hash of
the lesson file that ran (``lesson_blob``, what ``git hash-object`` prints).
:func:`provenance` compares that hash with the lesson file of today, so a
table or a web page can say when a lesson changed after its results were
recorded, instead of letting published verdicts drift from the code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "lessons" / "results"
EXPECTED = ROOT / "lessons" / "verdicts.json"
TABLE = ROOT / "lessons" / "VERDICTS.md"
BACKENDS = ("tensorflow", "jax", "torch")
OPPOSITE = {"holds": "does not hold", "does not hold": "holds"}

sys.path.insert(0, str(ROOT))
from kreg.lesson import write_json_atomic  # noqa: E402


def _entry(c):
    keep = ("claim", "kind", "outcome", "effect", "low", "high", "seeds", "unit", "margin", "direction",
            "discrepancy", "tolerance", "evidence")
    return {k: c.get(k) for k in keep if k in c}


def _git(*args):
    import subprocess

    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def lesson_blob(lesson):
    """The git blob hash of ``lessons/<lesson>.py`` as it is on disk now (None without git)."""
    return _git("hash-object", f"lessons/{lesson}.py")


def code_version(lesson):
    """``{"commit", "dirty", "lesson_blob"}`` of the checkout that is about to run ``lesson``."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", "kreg", f"lessons/{lesson}.py")
    return {"commit": _git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None,
            "lesson_blob": lesson_blob(lesson)}


def provenance(rec):
    """Where a record's results came from, and whether its lesson has changed since.

    Returns ``{"commit", "dirty", "lesson_blob", "current_blob", "stale", "inferred"}``: ``stale``
    is True when the lesson file on disk now differs from the one that produced the record;
    ``inferred`` marks records written before records carried their commit, whose commit is
    the last one that touched the lesson before the record's date.
    """
    code = rec.get("code") or {}
    current = lesson_blob(rec["lesson"])
    blob = code.get("lesson_blob")
    return {"commit": code.get("commit"), "dirty": code.get("dirty"), "lesson_blob": blob,
            "current_blob": current, "inferred": bool(code.get("inferred")),
            "stale": None if (blob is None or current is None) else blob != current}


def record(results):
    """Write one lesson run's outcomes (from its results dict) for the table; returns the path."""
    backend = results["backend"]
    data = {
        "lesson": results["lesson"],
        "backend": backend,
        "claims": [_entry(c) for c in results["claims"]],
        "references": [{k: r.get(k) for k in ("text", "outcome", "measured", "low", "high", "reference")}
                       for r in results.get("references", [])],
        "wall_time_s": results.get("wall_time_s"),
        "versions": results.get("versions"),
        "device": results.get("device"),
        "dataset": {k: {"used": v.get("name"), "sizes": v.get("sizes")} for k, v in results["dataset"].items()},
        "seeds": results["config"].get("seeds"),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "code": code_version(results["lesson"]),
    }
    path = RECORDS / f"{results['lesson']}.{backend}.json"
    write_json_atomic(path, data)
    if os.environ.get("KREG_RECORD_VERDICTS") == "1":
        # Several backends (or sessions) may record at once: read-modify-write under an exclusive lock.
        with open(EXPECTED.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            expected = json.loads(EXPECTED.read_text()) if EXPECTED.is_file() else {}
            made = [c["claim"] for c in results["claims"]]
            old = expected.get(results["lesson"], {})
            # claims the lesson no longer makes are dropped; other backends' outcomes of the rest are kept
            lesson = {m: dict(old.get(m, {})) for m in made}
            for c in results["claims"]:
                lesson[c["claim"]][backend] = c["outcome"]
            expected[results["lesson"]] = lesson
            write_json_atomic(EXPECTED, dict(sorted(expected.items())))
    return path


def check_expected(results):
    """The differences between this run's outcomes and ``lessons/verdicts.json`` (empty when they match)."""
    if os.environ.get("KREG_RECORD_VERDICTS") == "1":
        return []
    expected = json.loads(EXPECTED.read_text()).get(results["lesson"], {}) if EXPECTED.is_file() else {}
    backend = results["backend"]
    problems = []
    for c in results["claims"]:
        want = expected.get(c["claim"], {}).get(backend)
        if want is None:
            problems.append(f"no expected outcome recorded for {c['claim']!r} on {backend} "
                            f"(run KREG_RECORD_VERDICTS=1 make test-slow after a design change)")
        elif want != c["outcome"]:
            problems.append(f"{c['claim']!r} on {backend}: {c['outcome']} ({c['evidence']}), "
                            f"lessons/verdicts.json expects {want}")
    missing = set(expected) - {c["claim"] for c in results["claims"]}
    problems += [f"claim {m!r} is in lessons/verdicts.json but the lesson no longer makes it" for m in sorted(missing)]
    return problems


def _cell(c):
    if c is None:
        return "—"
    if c.get("kind") == "exact":
        return f"**{c['outcome']}** (max diff {c['discrepancy']:.1e}, tol {c['tolerance']:.0e})"
    if c.get("effect") is None:
        return f"**{c['outcome']}**"
    unit = c.get("unit")
    if unit == "pp":
        f = lambda v: f"{v * 100:.2f}"  # noqa: E731
        suffix = " pp"
    elif unit == "ratio":
        import math

        f = lambda v: f"×{math.exp(v):.3f}"  # noqa: E731
        suffix = ""
    else:
        f = lambda v: f"{v:.3g}"  # noqa: E731
        suffix = ""
    return f"**{c['outcome']}** {f(c['effect'])}{suffix} [{f(c['low'])}, {f(c['high'])}], {c['seeds']} seeds"


def load_records():
    out = {}
    for path in sorted(RECORDS.glob("*.json")):
        data = json.loads(path.read_text())
        out.setdefault(data["lesson"], {})[data["backend"]] = data
    return out


def table(records):
    """The Markdown table and the list of claims that hold on one backend and do not hold on another."""
    lines = ["# Verdicts on every backend", "",
             "Written by `make test-slow` (`tests/verdicts.py`) from each lesson's default run on each backend. "
             "Each cell: outcome, effect [95% interval], replicate seeds. A claim *holds* when its interval "
             "lies beyond its margin on the side the lecture asserts, *does not hold* when it lies on the other "
             "side, and is *inconclusive* otherwise; *exact* identities are checked against a float tolerance.",
             ""]
    conflicts = []
    for lesson, by_backend in sorted(records.items()):
        backends = [b for b in BACKENDS if b in by_backend]
        lines += [f"## `{lesson}`", ""]
        for b in backends:
            r = by_backend[b]
            v = r.get("versions") or {}
            data = ", ".join(f"{d['used']} {d['sizes']}" for d in r["dataset"].values())
            pv = provenance(r)
            code = "code unknown"
            if pv["commit"]:
                code = f"code {pv['commit'][:10]}" + (" (inferred from the date)" if pv["inferred"] else "") + \
                    (" + uncommitted changes" if pv["dirty"] else "")
            if pv["stale"]:
                code += " — **the lesson has changed since; re-run it**"
            lines.append(f"- {b}: {r['date']}, keras {v.get('keras')}, {b} {v.get(b)}, device {r.get('device')}, "
                         f"{r.get('seeds')} seeds, {r.get('wall_time_s')} s, data {data}, {code}")
        lines += ["", "| claim | " + " | ".join(backends) + " |", "|---|" + "---|" * len(backends)]
        claims = []
        for b in backends:
            for c in by_backend[b]["claims"]:
                if c["claim"] not in claims:
                    claims.append(c["claim"])
        for claim in claims:
            cells = {b: next((c for c in by_backend[b]["claims"] if c["claim"] == claim), None) for b in backends}
            outcomes = {c["outcome"] for c in cells.values() if c}
            if {"holds", "does not hold"} <= outcomes:
                conflicts.append(f"{lesson}: {claim!r}: " + ", ".join(f"{b} {c['outcome']}"
                                                                     for b, c in cells.items() if c))
            lines.append(f"| {claim} | " + " | ".join(_cell(cells[b]) for b in backends) + " |")
        refs = [(b, r) for b in backends for r in by_backend[b].get("references", [])]
        if refs:
            lines += ["", "STAT 453 references:", ""]
            for b, r in refs:
                lines.append(f"- {b}: {r['text']}: measured {r['measured']:.2%} [{r['low']:.2%}, {r['high']:.2%}] "
                             f"vs {r['reference']:.2%} — {r['outcome']}")
        lines.append("")
    return "\n".join(lines) + "\n", conflicts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=TABLE)
    args = p.parse_args(argv)
    records = load_records()
    if not records:
        print("verdicts: no lesson run recorded in lessons/results/ (run make test-slow first)")
        return 0
    text, conflicts = table(records)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, args.out)
    print(f"verdicts: wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
          f"({len(records)} lesson{'s' if len(records) != 1 else ''})")
    for c in conflicts:
        print(f"verdicts: CONFLICT: {c}")
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
