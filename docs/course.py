"""The course site: every lesson as a notebook and a web page, with its verdicts on every backend.

Two commands (the Makefile's ``make notebooks`` and ``make site`` call them)::

    python docs/course.py notebooks [--backend jax] [--lessons "l10_dropout ..."] [--args "--quick"]
    python docs/course.py site [--lessons "..."] [--notebooks build/notebooks] [--out build/site]

``notebooks`` converts each lesson script (a jupytext "percent" file) to a
``.ipynb`` and executes it with nbclient under one backend, so the notebook
keeps its outputs and figures: ``build/notebooks/<backend>/<lesson>.ipynb``;
the lesson's own ``results.json`` and PNGs land beside it in
``build/notebooks/<backend>/runs/<lesson>/<backend>/``. Every notebook opens
with two set-up cells: one installs kreg where it is missing (on Colab from
the repository's git URL, ``REPO_URL``), one picks the Keras backend and the
lesson's flags (``KERAS_BACKEND``, ``KREG_ARGS``) before Keras is imported.

``site`` builds the static HTML site with Sphinx + myst-nb (see
``docs/conf.py`` for why those) into ``build/site/html``. It never trains:
the verdicts come from the records the slow suite commits in
``lessons/results/<lesson>.<backend>.json`` (read with ``tests/verdicts.py``),
and each lesson page shows the executed notebook where ``notebooks`` made
one, else the unexecuted conversion, and says so.

The pure functions (lesson metadata, notebook conversion, verdict pages)
are importable for the tests: ``tests/test_site.py``.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import html
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kreg.lesson import _write_bytes_atomic  # noqa: E402  (the harness's atomic write; imports no Keras)

DOCS = ROOT / "docs"
LESSONS_DIR = ROOT / "lessons"
BUILD = ROOT / "build"
BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_LABEL = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
GROUPS = {
    "l10": "L10 — Regularization",
    "l11": "L11 — Normalization and initialization",
    "l12": "L12 — Optimization and learning rates",
}
#: The decks in ../shared/seeds/ (their README), as the lessons cite them by number.
DECKS = {
    "000": "STAT 453 L10 (Raschka): Regularization Methods for Neural Networks",
    "001": "CSCI-P556 L16 (Williamson): Regularization and Optimization of DNNs",
    "002": "COMP5329 (Xu): Regularizations for Deep Models",
    "003": "CS4782 (Cornell): Regularization and Data Augmentation",
    "004": "Sharif (Soleymani): Training Neural Networks — Generalization",
}
#: sphinx-design badge colour of each outcome.
BADGE = {"holds": "success", "does not hold": "danger", "inconclusive": "warning"}


def _verdicts():
    """tests/verdicts.py, which owns the records' format (load_records, provenance, _cell)."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import verdicts
    finally:
        sys.path.remove(str(ROOT / "tests"))
    return verdicts


# ------------------------------------------------------------------ input checks
def all_lessons():
    """Every lesson's name (``l10_dropout``, ...), in course order."""
    return sorted(p.stem for p in LESSONS_DIR.glob("l1[0-9]_*.py"))


def check_lessons(names):
    """The lesson names to build (all when ``names`` is empty); a clear error for an unknown one."""
    known = all_lessons()
    if isinstance(names, str):
        names = names.split()
    names = [n.removesuffix(".py").removeprefix("lessons/") for n in (names or [])]
    for n in names:
        if n not in known:
            raise ValueError(f"Invalid value received for argument `LESSONS`. Expected lesson names from "
                             f"lessons/ ({', '.join(known)}). Received: LESSONS={n!r}")
    return names or known


def check_backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f"Invalid value received for argument `BACKEND`. Expected one of "
                         f"{', '.join(BACKENDS)}. Received: BACKEND={backend!r}")
    return backend


def check_args(args):
    """The lesson flags as a string; a clear error when they cannot be split like a command line."""
    try:
        words = shlex.split(args or "")
    except ValueError as e:
        raise ValueError(f"Invalid value received for argument `ARGS`. Expected lesson flags as on the "
                         f"command line ({e}). Received: ARGS={args!r}") from None
    for bad in ("--backend", "--out"):
        if any(w == bad or w.startswith(bad + "=") for w in words):
            raise ValueError(f"Invalid value received for argument `ARGS`. The notebook's backend comes from "
                             f"BACKEND and its output folder from the build; drop {bad}. Received: ARGS={args!r}")
    return " ".join(shlex.quote(w) for w in words)


# ------------------------------------------------------------------ lesson metadata
def lesson_meta(name):
    """``{"name", "title", "decks", "reference", "heading", "group"}`` read from the lesson's source.

    The title, decks and STAT 453 reference are the literal arguments of the
    lesson's ``Lesson(...)`` call (parsed, not run); ``heading`` is the first
    Markdown heading of its first cell.
    """
    path = LESSONS_DIR / f"{name}.py"
    src = path.read_text()
    meta = {"name": name, "title": name, "decks": "", "reference": None, "heading": name,
            "group": name[:3]}
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Lesson":
            for kw in node.keywords:
                if kw.arg in ("title", "decks", "reference"):
                    try:
                        meta[kw.arg] = ast.literal_eval(kw.value)
                    except ValueError:
                        pass
            break
    m = re.search(r"^# # (.+)$", src, re.M)
    if m:
        meta["heading"] = m.group(1).strip()
    return meta


def deck_links(decks):
    """``"000 §5, 001"`` -> ``[("000 §5", "STAT 453 L10 ..."), ("001", "...")]``."""
    out = []
    for part in (p.strip() for p in decks.split(",")):
        if part:
            out.append((part, DECKS.get(part[:3], "")))
    return out


def repo_url():
    """The repository's git URL for the notebooks' install cell: ``$REPO_URL``, else ``origin``'s, else ""."""
    url = os.environ.get("REPO_URL", "").strip()
    if url:
        return url
    try:
        out = subprocess.run(["git", "remote", "get-url", "origin"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


# ------------------------------------------------------------------ notebooks
INSTALL_CELL = '''\
# Set-up 1/2: install kreg where it is missing (Colab, a fresh kernel).
import importlib.util
import subprocess
import sys

REPO_URL = {url}  # the git URL of the kreg repository (your clone or fork)
if importlib.util.find_spec("kreg") is None:
    if not REPO_URL:
        raise RuntimeError(
            "kreg is not installed in this kernel. Set REPO_URL above to the git URL of the kreg "
            "repository and run this cell again, or install it from a clone: pip install -e '.[all]'")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"kreg @ git+{{REPO_URL}}"], check=True)
'''

BACKEND_CELL = '''\
# Set-up 2/2: the Keras backend and the lesson's flags. Both take effect only before keras is
# imported (restart the kernel after a change); values set outside the notebook win
# (KERAS_BACKEND=torch KREG_ARGS="--seeds 3" jupyter lab).
import os

os.environ.setdefault("KERAS_BACKEND", {backend})  # "tensorflow", "jax" or "torch"
os.environ.setdefault("KREG_ARGS", {args})  # the lesson's flags, as on the command line (e.g. "--seeds 3")
print(f"backend {{os.environ['KERAS_BACKEND']}}, lesson flags {{os.environ['KREG_ARGS']!r}}")
'''


def join_math_lines(text):
    """Join a Markdown line that continues an open ``$...$`` formula onto the previous line.

    A formula wrapped so that its next line starts with ``+``, ``-`` or ``*`` and a space
    would otherwise open a bullet list in Markdown (Jupyter's and MyST's alike) and break the
    formula; the lesson scripts' text is not changed, only its Markdown cells.
    """
    out = []
    for line in text.split("\n"):
        paragraph_dollars = 0
        for prev in reversed(out):
            if not prev.strip():
                break
            paragraph_dollars += len(re.findall(r"(?<!\\)\$", prev.replace("$$", "")))
        if out and out[-1].strip() and paragraph_dollars % 2 == 1 and re.match(r"\s*[-+*]\s", line):
            out[-1] = out[-1].rstrip() + " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def to_notebook(name, backend="jax", args="", url=None):
    """The lesson as an nbformat notebook (not executed), with the set-up cells."""
    import jupytext
    import nbformat

    nb = jupytext.read(LESSONS_DIR / f"{name}.py")
    url = repo_url() if url is None else url
    setup = [nbformat.v4.new_code_cell(INSTALL_CELL.format(url=json.dumps(url)).rstrip()),
             nbformat.v4.new_code_cell(BACKEND_CELL.format(backend=json.dumps(backend), args=json.dumps(args)).rstrip())]
    first = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells[first:first] = setup
    # figures: Run.figure shows each one as the output of the cell that draws it
    for c in nb.cells:
        if c.cell_type == "markdown":
            c.source = join_math_lines(c.source)
        c.metadata = {}
        c.pop("id", None)
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "kreg": {"lesson": name, "backend": backend, "args": args, "executed": None},
    }
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name}-{i}"
    return nb


def write_notebook(nb, path):
    """Write a notebook atomically (kreg.lesson's temp file in the same folder, then os.replace)."""
    import nbformat

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_bytes_atomic(path, nbformat.writes(nb).encode())
    return path


def _write_text_atomic(path, text):
    _write_bytes_atomic(Path(path), text.encode())


def execute_notebook(nb, workdir, timeout=3600):
    """Execute ``nb`` in a fresh kernel whose working folder is ``workdir``; returns (nb, seconds).

    The kernel does not inherit ``KERAS_BACKEND`` or ``KREG_ARGS`` from this process, so the
    notebook's own set-up cell decides, as it will for a reader.
    """
    from nbclient import NotebookClient

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    saved = {k: os.environ.pop(k) for k in ("KERAS_BACKEND", "KREG_ARGS") if k in os.environ}
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(workdir)}}).execute()
    finally:
        os.environ.update(saved)
    wall = time.perf_counter() - t0
    nb.metadata["kreg"].update(executed=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                               wall_time_s=round(wall, 1))
    return nb, wall


def notebook_dir(backend, out=None):
    return Path(out) if out else BUILD / "notebooks" / backend


def build_notebooks(lessons=(), backend="jax", args="", out=None, execute=True, log=print):
    """Convert (and execute) the lessons' notebooks into ``build/notebooks/<backend>/``; returns the failures."""
    lessons = check_lessons(lessons)
    backend = check_backend(backend)
    args = check_args(args)
    folder = notebook_dir(backend, out)
    failures = {}
    for name in lessons:
        nb = to_notebook(name, backend, args)
        path = folder / f"{name}.ipynb"
        if not execute:
            write_notebook(nb, path)
            log(f"notebooks: {name}: converted (not executed) -> {path}")
            continue
        # the lesson's output folder (its default runs/<lesson>/<backend>, relative to the kernel's
        # folder) is emptied first: a notebook kernel has no __file__, so the replicate cache could
        # not notice a change of the lesson's code.
        shutil.rmtree(folder / "runs" / name, ignore_errors=True)
        log(f"notebooks: {name}: executing under {backend} with flags {args!r} ...")
        try:
            nb, wall = execute_notebook(nb, folder)
        except Exception as e:  # CellExecutionError, a dead kernel, a timeout
            failures[name] = str(e)
            (folder / f"{name}.ipynb").unlink(missing_ok=True)
            _write_text_atomic(folder / f"{name}.error.txt", str(e))
            log(f"notebooks: {name}: FAILED ({str(e).strip().splitlines()[-1][:200] if str(e).strip() else e!r})")
            continue
        (folder / f"{name}.error.txt").unlink(missing_ok=True)
        write_notebook(nb, path)
        log(f"notebooks: {name}: {wall:.0f} s -> {path}")
    return failures


# ------------------------------------------------------------------ verdict formatting
def fmt_value(c, v):
    """One number of a claim in its unit (without the unit's suffix), as tests/verdicts.py writes it."""
    unit = c.get("unit")
    if unit == "pp":
        return f"{v * 100:.2f}"
    if unit == "ratio":
        return f"×{math.exp(v):.3f}"
    return f"{v:.3g}"


def claim_cells(c):
    """``(outcome, effect, interval, seeds)`` strings of one recorded claim."""
    if c.get("kind") == "exact":
        return (c["outcome"], f"max diff {c['discrepancy']:.1e}", f"tol {c['tolerance']:.0e}", "every seed")
    if c.get("effect") is None:
        return (c["outcome"], "—", "—", str(c.get("seeds") or "—"))
    suffix = " pp" if c.get("unit") == "pp" else ""
    return (c["outcome"], fmt_value(c, c["effect"]) + suffix,
            f"[{fmt_value(c, c['low'])}, {fmt_value(c, c['high'])}]" + suffix, str(c.get("seeds")))


def _md(text):
    """Text safe inside a MyST table cell or paragraph (no roles, no pipes, no stray markup)."""
    return str(text).replace("|", "\\|").replace("`", "'").replace("*", "\\*").replace("$", "\\$") \
        .replace("{", "\\{").replace("\n", " ")


def badge(outcome, prefix=""):
    color = BADGE.get(outcome, "secondary")
    label = f"{prefix}{outcome}".replace("`", "'")
    return f"{{bdg-{color}}}`{label}`"


def claims_of(by_backend):
    """Claim texts in the order the lesson makes them, over every backend's record."""
    claims = []
    for b in BACKENDS:
        for c in (by_backend.get(b) or {}).get("claims", []):
            if c["claim"] not in claims:
                claims.append(c["claim"])
    return claims


def verdict_section(name, by_backend, notebook_info, downloads):
    """The MyST Markdown of a lesson page's verdict section (inserted after the slide's first cell)."""
    v = _verdicts()
    lines = ["## Verdicts on every backend", ""]
    backends = [b for b in BACKENDS if b in by_backend]
    if not backends:
        lines += ["```{note}", "No verdict recorded for this lesson yet: `make test-slow` writes "
                  f"`lessons/results/{name}.<backend>.json`.", "```", ""]
    else:
        lines += ["Each cell: the outcome, the effect with its 95% interval, and the replicate seeds, "
                  "from the lesson's default run on that backend (`make test-slow`; this page does not train). "
                  "A claim *holds* when its interval lies beyond its margin on the side the lecture asserts, "
                  "*does not hold* when it lies on the other side, and is *inconclusive* otherwise; *exact* "
                  "identities are checked against a float tolerance.", ""]
        lines += [":::{list-table}", ":header-rows: 1", ":class: kreg-verdicts", "",
                  "* - claim", "  - backend", "  - outcome", "  - effect", "  - 95% interval", "  - seeds"]
        for claim in claims_of(by_backend):
            first = True
            for b in backends:
                c = next((c for c in by_backend[b]["claims"] if c["claim"] == claim), None)
                cells = claim_cells(c) if c else ("not recorded", "—", "—", "—")
                lines.append(f"* - {_md(claim) if first else ''}")
                lines.append(f"  - {BACKEND_LABEL[b]}")
                lines.append(f"  - {badge(cells[0])}")
                lines += [f"  - {_md(x)}" for x in cells[1:]]
                first = False
        lines += [":::", ""]
        refs = [(b, r) for b in backends for r in by_backend[b].get("references") or []]
        if refs:
            lines += ["### STAT 453 references beside the measured numbers", "",
                      ":::{list-table}", ":header-rows: 1", ":class: kreg-references", "",
                      "* - quantity", "  - backend", "  - measured (95% interval)", "  - STAT 453", "  - outcome"]
            for b, r in refs:
                measured = "—" if r.get("measured") is None else \
                    f"{r['measured']:.2%} [{r['low']:.2%}, {r['high']:.2%}]"
                ref = "—" if r.get("reference") is None else f"{r['reference']:.2%}"
                lines += [f"* - {_md(r['text'])}", f"  - {BACKEND_LABEL[b]}", f"  - {_md(measured)}",
                          f"  - {_md(ref)}", f"  - {badge(r.get('outcome') or '—')}"]
            lines += [":::", ""]
        lines += ["### When and where these results were produced", ""]
        for b in backends:
            r = by_backend[b]
            ver = r.get("versions") or {}
            pv = v.provenance(r)
            data = ", ".join(f"{d.get('used')} {d.get('sizes')}" for d in (r.get("dataset") or {}).values())
            code = "code: unknown commit"
            if pv["commit"]:
                code = f"code: commit `{pv['commit'][:10]}`" + \
                    (" (inferred from the record's date)" if pv["inferred"] else "") + \
                    (" + uncommitted changes" if pv["dirty"] else "")
            if pv["stale"]:
                code += " — **the lesson has changed since: re-run it**"
            lines.append(f"- **{BACKEND_LABEL[b]}**: {_md(r.get('date'))}; keras {_md(ver.get('keras'))}, "
                         f"{b} {_md(ver.get(b))}, python {_md(ver.get('python'))}; device {_md(r.get('device'))}; "
                         f"{r.get('seeds')} seeds, {r.get('wall_time_s')} s; data {_md(data)}; {code}")
        lines.append("")
        stale = [BACKEND_LABEL[b] for b in backends if v.provenance(by_backend[b])["stale"]]
        if stale:
            lines += ["```{warning}", f"The lesson's code changed after its results on {', '.join(stale)} were "
                      "recorded: those verdicts may not match the code below. Re-run "
                      f"`make test-slow PYTEST_ARGS=\"-k {name}\"`.", "```", ""]
    lines += ["## This page's notebook", ""]
    if notebook_info.get("executed"):
        lines.append(f"The code and figures below come from executing the notebook under "
                     f"{BACKEND_LABEL.get(notebook_info['backend'], notebook_info['backend'])} with lesson flags "
                     f"`{notebook_info.get('args') or '(defaults)'}` on {notebook_info['executed']} "
                     f"({notebook_info.get('wall_time_s')} s, `make notebooks`)."
                     + (" The quick setting is a smoke run: it decides no claim; the verdicts above come "
                        "from the default runs." if "--quick" in (notebook_info.get("args") or "") else ""))
    else:
        lines += ["```{note}", "This notebook has not been executed for the site: the page shows its code "
                  "without outputs or figures. `make notebooks` executes it (`make notebooks "
                  f"LESSONS={name}`), then `make site`.", "```"]
    lines.append("")
    for label, target in downloads:
        lines.append(f"- {{download}}`{label} <{target}>`")
    lines.append("")
    return "\n".join(lines)


def card(meta, by_backend):
    """One lesson's card for the index (a sphinx-design grid item)."""
    decks = "; ".join(f"{d} ({_md(full.split(':')[0])})" if full else d for d, full in deck_links(meta["decks"]))
    lines = [f":::{{grid-item-card}} {_md(meta['heading'])}", f":link: lessons/{meta['name']}", ":link-type: doc",
             ":class-card: kreg-card", "", f"`{meta['name']}.py` · decks {decks}", ""]
    claims = claims_of(by_backend)
    if not claims:
        lines.append("*No verdict recorded yet.*")
    for claim in claims:
        badges = []
        for b in BACKENDS:
            c = next((c for c in (by_backend.get(b) or {}).get("claims", []) if c["claim"] == claim), None)
            short = {"tensorflow": "TF", "jax": "JAX", "torch": "PT"}[b]
            badges.append(badge(c["outcome"], f"{short}: ") if c else f"{{bdg-secondary-line}}`{short}: —`")
        lines.append(f"- {_md(claim)} {' '.join(badges)}")
    lines += ["", ":::", ""]
    return "\n".join(lines)


def index_page(metas, records):
    lines = ["# kreg — regularization of neural networks, a course in Keras 3", "",
             "Every lesson reproduces the experiments of a lecture slide on TensorFlow, JAX and PyTorch, and "
             "states the lecture's claims with a verdict backed by the numbers it measured. Each card shows "
             "the lesson's decks and sections and its claims with one badge per backend "
             "(TF TensorFlow, JAX, PT PyTorch; from `make test-slow`'s default runs). Each lesson page holds "
             "the slide's text and formulas, the code, the figures, the verdict table and its notebook.", "",
             "See also: {doc}`how to run the lessons <how_to_run>` · {doc}`the library reference <reference/index>`.",
             ""]
    for group, title in GROUPS.items():
        ms = [m for m in metas if m["group"] == group]
        if ms:
            lines += ["```{toctree}", ":hidden:", ":maxdepth: 1", f":caption: {title}", "",
                      *[f"lessons/{m['name']}" for m in ms], "```", ""]
    lines += ["```{toctree}", ":hidden:", ":maxdepth: 1", ":caption: Using kreg", "", "how_to_run",
              "reference/index", "```", ""]
    for group, title in GROUPS.items():
        ms = [m for m in metas if m["group"] == group]
        if not ms:
            continue
        lines += [f"## {title}", "", "::::{grid} 1 1 2 2", ":gutter: 3", ""]
        for m in ms:
            lines.append(card(m, records.get(m["name"], {})))
        lines += ["::::", ""]
    return "\n".join(lines)


def find_notebook(name, notebooks):
    """The executed notebook of a lesson in ``notebooks/<backend>/`` (JAX first), or None."""
    import nbformat

    for b in ("jax", "tensorflow", "torch"):
        p = Path(notebooks) / b / f"{name}.ipynb"
        if p.is_file():
            nb = nbformat.read(p, as_version=4)
            if (nb.metadata.get("kreg") or {}).get("executed"):
                return p, nb
    return None, None


def build_site(lessons=(), notebooks=None, out=None, log=print, builder_args=()):
    """Stage the Sphinx sources and run sphinx-build; returns the HTML folder."""
    import nbformat

    lessons = check_lessons(lessons)
    notebooks = Path(notebooks) if notebooks else BUILD / "notebooks"
    out = Path(out) if out else BUILD / "site"
    src = out / "src"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(DOCS / "pages", src)
    records = _verdicts().load_records()
    metas = [lesson_meta(n) for n in lessons]
    (src / "index.md").write_text(index_page(metas, records))
    for m in metas:
        name = m["name"]
        path, nb = find_notebook(name, notebooks)
        downloads = []
        dl = src / "lessons" / "_notebooks"
        if nb is None:
            nb = to_notebook(name)
            write_notebook(nb, dl / f"{name}.ipynb")
            downloads.append(("download the notebook (.ipynb, not executed)", f"_notebooks/{name}.ipynb"))
        else:
            b = nb.metadata["kreg"]["backend"]
            write_notebook(nb, dl / b / f"{name}.ipynb")
            downloads.append((f"download the notebook executed under {BACKEND_LABEL[b]} (.ipynb)",
                              f"_notebooks/{b}/{name}.ipynb"))
        clean = to_notebook(name)
        write_notebook(clean, dl / "clean" / f"{name}.ipynb")
        downloads.append(("download the notebook without outputs (.ipynb)", f"_notebooks/clean/{name}.ipynb"))
        downloads.append(("download the lesson script (.py)", f"_notebooks/{name}.py"))
        shutil.copy2(LESSONS_DIR / f"{name}.py", dl / f"{name}.py")
        page = nbformat.from_dict(json.loads(nbformat.writes(nb)))
        section = verdict_section(name, records.get(name, {}), nb.metadata["kreg"], downloads)
        first = 1 if page.cells and page.cells[0].cell_type == "markdown" else 0
        page.cells.insert(first, nbformat.v4.new_markdown_cell(section, id=f"{name}-verdicts"))
        write_notebook(page, src / "lessons" / f"{name}.ipynb")
        log(f"site: {name}: {'executed' if path else 'unexecuted'} notebook"
            + (f" from {path}" if path else "") + f", {len(records.get(name, {}))} backend record(s)")
    html_dir = out / "html"
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-c", str(DOCS), str(src), str(html_dir),
           *builder_args]
    log("site: " + " ".join(cmd[2:]))
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    log(f"site: open {html_dir / 'index.html'}")
    return html_dir


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    n = sub.add_parser("notebooks", help="convert and execute the lessons' notebooks")
    n.add_argument("--backend", default="jax")
    n.add_argument("--lessons", default="", help="space-separated lesson names (default: all)")
    n.add_argument("--args", default="", help="the lessons' flags, e.g. --quick")
    n.add_argument("--out", default=None, help="folder (default build/notebooks/<backend>)")
    n.add_argument("--no-execute", action="store_true", help="convert only")
    s = sub.add_parser("site", help="build the static HTML site (never trains)")
    s.add_argument("--lessons", default="", help="space-separated lesson names (default: all)")
    s.add_argument("--notebooks", default=None, help="folder with <backend>/<lesson>.ipynb (default build/notebooks)")
    s.add_argument("--out", default=None, help="folder (default build/site; HTML in <out>/html)")
    a = p.parse_args(argv)
    try:
        if a.command == "notebooks":
            failures = build_notebooks(a.lessons, a.backend, a.args, a.out, execute=not a.no_execute)
            for k, v in failures.items():
                print(f"notebooks: FAILED: {k}: see {notebook_dir(a.backend, a.out) / (k + '.error.txt')}")
            return 1 if failures else 0
        build_site(a.lessons, a.notebooks, a.out)
        return 0
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
