"""Helpers shared by the lesson tests ``tests/test_lesson_*.py`` (not collected itself).

The lesson tests import it as ``from lesson_support import ...``: pytest's default
``prepend`` import mode puts ``tests/`` (it has no ``__init__.py``) on ``sys.path``.
"""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_lesson(name):
    """Import ``lessons/<name>.py`` afresh: every call re-executes the module (nothing is cached)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "lessons" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_results(out, res, name, *, n_claims, figures, exact_figures=False, png_magic=False, claim_keys=None):
    """Check a lesson's ``results.json`` in ``out`` against its in-memory result ``res``; return the on-disk dict.

    n_claims: the exact number of claims, or None for "at least one claim".
    figures: the file names (with ``.png``) the lesson must write in ``out``.
    exact_figures: the PNGs in ``out`` must be exactly ``figures`` (no other PNG).
    png_magic: each figure must start with the PNG signature (not merely exist).
    claim_keys: None compares the claims in full; a tuple of keys (e.g. ``("claim", "holds")``)
        compares only those keys of each claim, in order.
    """
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["lesson"] == name
    if n_claims is None:
        assert on_disk["claims"], "the lesson records its claims"
    else:
        assert len(on_disk["claims"]) == n_claims
    for claim in on_disk["claims"]:
        assert isinstance(claim, dict) and isinstance(claim["holds"], bool), claim
        assert claim["outcome"] in ("holds", "does not hold", "inconclusive"), claim
        assert claim["evidence"], claim
    if claim_keys is None:
        assert on_disk["claims"] == res["claims"]
    else:
        def project(claims):
            return [tuple(c[k] for k in claim_keys) for c in claims]
        assert project(on_disk["claims"]) == project(res["claims"])
    figures = set(figures)
    if exact_figures:
        assert {p.name for p in out.glob("*.png")} == figures
    for fig in sorted(figures):
        if png_magic:
            assert (out / fig).read_bytes()[:8] == PNG_MAGIC, fig
        else:
            assert (out / fig).is_file(), fig
    return on_disk


def is_notebook_style(name):
    """A percent-format lesson (top-level cells, no ``main``) rather than a legacy ``main(argv)`` one."""
    return "\ndef main(" not in (ROOT / "lessons" / f"{name}.py").read_text()


def run_lesson(name, out, *argv, env_args=None):
    """Run ``lessons/<name>.py`` in-process, quietly, writing to ``out``; return its results dict.

    A percent-format lesson runs as ``python lessons/<name>.py ARGV`` would
    (``runpy`` with ``sys.argv``), with ``$KREG_ARGS`` set to ``env_args``
    (unset by default); a legacy lesson through its ``main(argv)``.
    """
    if not is_notebook_style(name):
        return load_lesson(name).main([*argv, "--out", str(out), "--verbose", "0"])
    return run_lesson_namespace(name, out, *argv, env_args=env_args)["results"]


def run_lesson_namespace(name, out, *argv, env_args=None):
    """Like :func:`run_lesson` for a percent-format lesson, but return the script's whole namespace
    (its ``results`` and every object it built, for tests that inspect a lesson's data pipeline)."""
    argv = [*argv, "--out", str(out), "--verbose", "0"]
    import os
    import runpy
    import sys

    path = str(ROOT / "lessons" / f"{name}.py")
    saved_argv, saved_env = sys.argv, os.environ.get("KREG_ARGS")
    sys.argv = [path, *argv]
    if env_args is None:
        os.environ.pop("KREG_ARGS", None)
    else:
        os.environ["KREG_ARGS"] = env_args
    try:
        return runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = saved_argv
        if saved_env is None:
            os.environ.pop("KREG_ARGS", None)
        else:
            os.environ["KREG_ARGS"] = saved_env


def assert_quick_decides_nothing(res):
    """Under ``--quick`` every empirical claim is inconclusive; exact checks are still decided and hold."""
    for c in res["claims"]:
        if c["kind"] == "exact":
            assert c["outcome"] == "holds", c
        else:
            assert c["outcome"] == "inconclusive" and c["quick"], c


def assert_each_outcome_reachable(res):
    """Every empirical claim of a run can come out each of its three ways.

    For each claim recorded in ``res`` (its direction and margin, as the
    lesson declared them), synthetic per-seed effects on the far side of the
    margin, on the near side, and straddling it go through the same
    ``kreg.stats.estimate`` and ``kreg.stats.decide`` the harness uses; the
    outcomes must be holds, does not hold and inconclusive. A claim whose
    margin or direction could never let it fail is caught here.
    """
    import numpy as np

    from kreg import stats

    empirical = [c for c in res["claims"] if c["kind"] == "empirical"]
    assert empirical, "the lesson makes no empirical claim"
    for c in empirical:
        m, direction = float(c["margin"]), c["direction"]
        assert np.isfinite(m) and m >= 0, c
        step = max(m, 0.01)
        sign = -1.0 if direction == "less" else 1.0
        if direction == "agree":
            centres = {"holds": 0.0, "does not hold": m + 4 * step, "inconclusive": m}
        else:
            centres = {"holds": sign * (m + 4 * step), "does not hold": sign * (m - 4 * step),
                       "inconclusive": sign * m}
        spread = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * step * 0.2
        for want, centre in centres.items():
            est = stats.estimate(lambda d: d["e"], {"e": centre + spread})
            got = stats.decide(est.low, est.high, direction=direction, margin=m, seeds=est.seeds)
            assert got == want, (c["claim"], want, got, est)


def record_and_compare_verdicts(res):
    """Slow tests: record the outcomes for the cross-backend table; fail on a change of verdict."""
    import verdicts

    verdicts.record(res)
    problems = verdicts.check_expected(res)
    assert not problems, "\n".join(problems)


def assert_bad_flag(name, argv, match, out, env_args=None):
    """A bad flag raises a ValueError matching ``match`` before anything is written."""
    import pytest

    kwargs = {} if env_args is None else {"env_args": env_args}
    with pytest.raises(ValueError, match=match):
        run_lesson(name, out, *argv, **kwargs)
    assert not (Path(out) / "results.json").exists()


def assert_notebook_style(name, min_cells=4):
    """A jupytext percent script: markdown and code cells top to bottom, no main() wrapper."""
    text = (ROOT / "lessons" / f"{name}.py").read_text()
    assert text.startswith("# %% [markdown]") and is_notebook_style(name)
    cells = [line for line in text.splitlines() if line.startswith("# %%")]
    assert cells.count("# %% [markdown]") >= min_cells and cells.count("# %%") >= min_cells


def assert_replicates(on_disk, arms, seeds):
    """results.json holds exactly these arms, each with one entry per replicate seed."""
    assert set(on_disk["replicates"]) == set(arms)
    for arm in arms:
        assert len(on_disk["replicates"][arm]["per_seed"]) == seeds, arm
