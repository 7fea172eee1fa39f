"""The course site (docs/course.py): notebooks, the static site, and the pages in a real browser.

The site does not depend on the Keras backend of the pytest process (each
notebook runs in its own kernel, and the site reads committed records), so
these tests run in the JAX process of ``make test`` only. They build two
lessons' notebooks in the quick setting (a smoke run that decides nothing),
compare one of them with the script run with the same flags, build the site
for those two lessons, serve it on localhost and open it in headless
Chromium (Debian's ``chromium`` driven by playwright; ``make site-test``
installs it). No test touches the network: requests for anything but
localhost (MathJax's CDN) are answered with an empty file and counted.
Screenshots: ``build/site-test/index.png`` and ``build/site-test/lesson.png``.
"""

import functools
import http.server
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import course  # noqa: E402

LESSONS = ("l10_smoothness", "l10_early_stopping")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = ROOT / "build" / "site-test"
sys.path.insert(0, str(ROOT / "docs"))
import conf as _docs_conf  # noqa: E402  (docs/conf.py: does the site bundle MathJax?)

MATHJAX_BUNDLED = _docs_conf._MATHJAX is not None

pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND") != "jax",
    reason="the course site is backend-independent (each notebook runs in its own kernel): "
    "its tests run in the JAX process of make test only")


# ------------------------------------------------------------------ fast checks
def test_bad_lesson_name_is_rejected_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match=r"argument `LESSONS`.*Received: LESSONS='l99_nope'"):
        course.build_notebooks(["l10_dropout", "l99_nope"], "jax", out=tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match="argument `LESSONS`"):
        course.build_site(["nope"], out=tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_bad_backend_and_args_are_rejected(tmp_path):
    with pytest.raises(ValueError, match=r"argument `BACKEND`.*Received: BACKEND='theano'"):
        course.build_notebooks(["l10_dropout"], "theano", out=tmp_path)
    with pytest.raises(ValueError, match=r"argument `ARGS`.*Received: ARGS='--seeds \"3'"):
        course.build_notebooks(["l10_dropout"], "jax", args='--seeds "3', out=tmp_path)
    with pytest.raises(ValueError, match="drop --backend"):
        course.build_notebooks(["l10_dropout"], "jax", args="--backend torch", out=tmp_path)
    assert not any(tmp_path.iterdir())
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "course.py"), "notebooks", "--lessons", "l99_nope"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "LESSONS='l99_nope'" in r.stderr


def test_a_flag_the_lesson_rejects_fails_its_notebook_and_writes_none(tmp_path):
    failures = course.build_notebooks(["l10_smoothness"], "jax", "--seeds 0", out=tmp_path)
    assert list(failures) == ["l10_smoothness"] and "Received: seeds=0" in failures["l10_smoothness"]
    assert not (tmp_path / "l10_smoothness.ipynb").exists()
    assert "Received: seeds=0" in (tmp_path / "l10_smoothness.error.txt").read_text()


def test_every_lesson_converts_with_its_setup_cells():
    import nbformat

    for name in course.all_lessons():
        meta = course.lesson_meta(name)
        assert meta["group"] in course.GROUPS and meta["decks"], name
        assert all(full for _, full in course.deck_links(meta["decks"])), (name, meta["decks"])
        nb = course.to_notebook(name, "torch", "--seeds 3", url="")
        nbformat.validate(nb)
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        install, setup = nb.cells[1].source, nb.cells[2].source
        assert 'REPO_URL = ""' in install and "Set REPO_URL" in install
        assert 'os.environ.setdefault("KERAS_BACKEND", "torch")' in setup
        assert 'os.environ.setdefault("KREG_ARGS", "--seeds 3")' in setup
        # the backend is chosen before the lesson's first code cell imports anything of kreg/keras
        assert "import keras" not in install + setup and "import kreg" not in install + setup
        # no figures cell appended: Run.figure shows each figure where it is drawn
        assert not any("display(Image(filename" in c.source for c in nb.cells)


def test_install_cell_takes_the_repository_url():
    nb = course.to_notebook("l10_dropout", url="https://example.invalid/kreg.git")
    assert 'REPO_URL = "https://example.invalid/kreg.git"' in nb.cells[1].source


def test_verdict_cells_agree_with_the_verdict_table():
    v = course._verdicts()
    records = v.load_records()
    assert records, "lessons/results/ holds no record"
    for lesson, by_backend in records.items():
        for rec in by_backend.values():
            for c in rec["claims"]:
                outcome, effect, interval, seeds = course.claim_cells(c)
                md = v._cell(c)
                assert md.startswith(f"**{outcome}**")
                if c.get("kind") != "exact" and c.get("effect") is not None:
                    assert effect in md and interval.removesuffix(" pp") in md and f"{seeds} seeds" in md, (lesson, md)


def test_lesson_page_warns_when_the_lesson_changed_after_its_results():
    v = course._verdicts()
    rec = json.loads(json.dumps(next(iter(v.load_records()["l10_dropout"].values()))))
    backend = rec["backend"]
    rec["code"] = {"commit": "0123456789abcdef", "dirty": False, "lesson_blob": v.lesson_blob("l10_dropout")}
    fresh = course.verdict_section("l10_dropout", {backend: rec}, {"executed": None}, [])
    assert "```{warning}" not in fresh and "commit `0123456789`" in fresh
    assert "has not been executed" in fresh  # an unexecuted notebook says so
    rec["code"]["lesson_blob"] = "0" * 40
    stale = course.verdict_section("l10_dropout", {backend: rec}, {"executed": None}, [])
    assert "```{warning}" in stale and "the lesson has changed since: re-run it" in stale
    assert "No verdict recorded" in course.verdict_section("l10_dropout", {}, {"executed": None}, [])


def test_formulas_wrapped_onto_a_line_starting_with_plus_stay_formulas():
    text = "penalty $E = a\n+ b$ here.\n\n- a list\n- item $x$\n- more"
    assert course.join_math_lines(text) == "penalty $E = a + b$ here.\n\n- a list\n- item $x$\n- more"


# ------------------------------------------------------------------ notebooks + site (slow-ish)
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course")
    failures = course.build_notebooks(LESSONS, "jax", "--quick", out=tmp / "notebooks" / "jax")
    assert not failures, failures
    html = course.build_site(LESSONS, notebooks=tmp / "notebooks", out=tmp / "site")
    return tmp, html


def _numbers(results):
    """Every claim's and reference's numbers and outcomes, keyed by their text."""
    out = {}
    for c in results["claims"]:
        out[("claim", c["claim"])] = (c["outcome"], [c.get(k) for k in ("effect", "low", "high", "discrepancy")])
    for r in results.get("references", []):
        out[("ref", r["text"])] = (r["outcome"], [r.get(k) for k in ("measured", "low", "high")])
    return out


def test_notebook_gives_the_scripts_effects_and_outcomes(built, tmp_path):
    tmp, _ = built
    name = LESSONS[0]
    nb_results = json.loads((tmp / "notebooks" / "jax" / "runs" / name / "jax" / "results.json").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("KREG_ARGS",)}
    env["KERAS_BACKEND"] = "jax"
    subprocess.run([sys.executable, str(ROOT / "lessons" / f"{name}.py"), "--quick", "--out", str(tmp_path)],
                   check=True, env=env, cwd=tmp_path, capture_output=True, timeout=600)
    script = json.loads((tmp_path / "results.json").read_text())
    assert nb_results["config"]["quick"] is True and script["config"]["quick"] is True
    a, b = _numbers(nb_results), _numbers(script)
    assert a.keys() == b.keys() and a
    for key in a:
        assert a[key][0] == b[key][0], key
        for x, y in zip(a[key][1], b[key][1]):
            if x is None or y is None or isinstance(x, str):
                assert x == y, key
            else:
                assert math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-7), (key, x, y)
    assert sorted(nb_results["figures"]) == sorted(script["figures"])


def test_executed_notebook_keeps_its_outputs_and_figures(built):
    import nbformat

    tmp, html = built
    for name in LESSONS:
        nb = nbformat.read(tmp / "notebooks" / "jax" / f"{name}.ipynb", as_version=4)
        assert nb.metadata["kreg"]["executed"] and nb.metadata["kreg"]["args"] == "--quick"
        pngs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                if "image/png" in o.get("data", {})]
        assert pngs, f"{name}: no figure in the executed notebook"
        page = (html / "lessons" / f"{name}.html").read_text()
        assert "kreg-verdicts" in page and "executing the notebook under JAX" in page


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(built):
    _, html = built
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_pages_in_headless_chromium(served):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make site-test installs it with apt-get)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the docs extra)")
    base = served
    pages = ["index.html", *[f"lessons/{n}.html" for n in LESSONS], "how_to_run.html", "reference/index.html",
             "reference/layers.html"]
    external, problems, links = [], [], set()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def route(r):
                if r.request.url.startswith(base):
                    return r.continue_()
                external.append(r.request.url)  # never on the network: an empty answer instead
                return r.fulfill(status=200, body="", content_type="application/javascript")

            page.route("**/*", route)
            failed = []
            page.on("requestfailed", lambda r: failed.append(r.url))

            console_errors = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            for path in pages:
                url = base + path
                resp = page.goto(url, wait_until="load")
                assert resp is not None and resp.status == 200, (path, resp and resp.status)
                images = page.evaluate("Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])")
                broken = [src for src, complete, width in images if not (complete and width > 0)]
                assert not broken, (path, broken)
                if path.startswith("lessons/"):
                    assert len(images) >= 1, f"{path}: no figure"
                    assert page.locator("table.kreg-verdicts").count() == 1, f"{path}: no verdict table"
                    assert page.locator("table.kreg-verdicts tbody tr").count() >= 1
                    assert page.locator(".math").count() >= 1, f"{path}: no formula"
                    if MATHJAX_BUNDLED:  # the formulas are typeset from the site's own MathJax, offline
                        page.wait_for_function("document.querySelectorAll('mjx-container svg').length > 0",
                                               timeout=30_000)
                    assert page.locator("h3", has_text="When and where these results were produced").count() == 1
                page.wait_for_load_state("networkidle")  # fonts MathJax asked for: not cut off by the next goto
                if path == "index.html":
                    assert page.locator(".kreg-card").count() == len(LESSONS)
                    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
                if path == f"lessons/{LESSONS[0]}.html":
                    page.screenshot(path=str(SCREENSHOTS / "lesson.png"), full_page=True)
                for href in page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"):
                    if href.startswith(base):
                        links.add(urllib.parse.urldefrag(href)[0])
        finally:
            browser.close()
    others = list(console_errors) + [f"request failed: {u}" for u in failed]
    problems += [f"console error: {t}" for t in others]
    assert not problems, (problems, failed, console_errors)
    bad = {u: s for u in sorted(links) if (s := _status(u)) != 200}
    assert not bad, bad
    assert any(u.endswith(".ipynb") for u in links), "no notebook download link"
    if MATHJAX_BUNDLED:
        assert not external, external  # the site needs nothing from outside
    else:
        assert all(u.startswith("https://cdn.jsdelivr.net/") for u in external), external
    assert (SCREENSHOTS / "index.png").stat().st_size > 0 and (SCREENSHOTS / "lesson.png").stat().st_size > 0
