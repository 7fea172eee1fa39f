"""Sphinx configuration of the kreg course site (``make site``; sources staged by docs/course.py).

Why Sphinx + myst-nb (and not a hand-written generator):

- The lessons are jupytext "percent" scripts whose Markdown cells carry the
  slides' text with ``$...$`` math. myst-nb renders a ``.ipynb`` as a page
  *with its stored outputs* (figures, printed verdicts), parses its Markdown
  cells as MyST (dollar math, admonitions, tables, download links), and can
  leave execution to ``make notebooks`` (``nb_execution_mode = "off"``), so
  the site build never trains.
- The library reference comes from the same tool: autodoc + napoleon render
  kreg's Google-style docstrings and their ``.. math::`` blocks, which
  sphinx-gallery and a separate API tool would not share with the lesson
  pages.
- sphinx-gallery (scikit-learn, matplotlib) executes ``# %%`` scripts
  itself at build time and wants its own gallery layout; kreg's lessons are
  minutes long and must run per backend, so executing once, separately, and
  rendering notebooks fits better. Jupyter Book 1 is Sphinx + myst-nb with a
  config layer on top (and Jupyter Book 2 moved to a Node tool); using
  Sphinx + myst-nb directly keeps one Python dependency chain.
- All of them are maintained by the Sphinx and Executable Books projects;
  the theme is furo, cards and badges come from sphinx-design.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("KERAS_BACKEND", "jax")  # autodoc imports kreg, which imports keras

import kreg  # noqa: E402

project = "kreg"
author = "the kreg authors"
copyright = "the kreg authors (Apache-2.0)"
release = kreg.__version__
version = kreg.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_design",
]

# The notebooks come executed (make notebooks) or are shown without outputs: never run here.
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

exclude_patterns = ["lessons/_notebooks/**", "**/.ipynb_checkpoints", "**/.*.tmp"]
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = False  # Keras's own base-class docstrings are not kreg's to render
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = [("Call arguments", "params_style"), ("Input shape", "notes_style"),
                            ("Output shape", "notes_style"), ("Reference", "notes_style")]

html_theme = "furo"
html_title = f"kreg {release}: regularization of neural networks"
html_static_path = ["_static"]
html_css_files = ["kreg.css"]
html_show_sourcelink = False
html_last_updated_fmt = "%Y-%m-%d"


# Formulas are typeset on a site read offline too: MathJax 3 with SVG output (no web fonts to fetch),
# from the sphinx-mathjax-offline package (PyPI), is copied into the site and loaded from it. Without
# that package, Sphinx's default (MathJax from a CDN) is kept. myst-nb's mathjax3_config still applies.
def _find_mathjax():
    from importlib import metadata

    try:
        dist = metadata.distribution("sphinx-mathjax-offline")
    except metadata.PackageNotFoundError:
        return None
    js = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax/tex-svg.js"))
    return js.parent if js.is_file() else None


_MATHJAX = _find_mathjax()
if _MATHJAX is not None:
    mathjax_path = "mathjax/tex-svg.js"


def _copy_mathjax(app, exc):
    import shutil

    if exc is None and _MATHJAX is not None and app.builder.format == "html":
        shutil.copytree(_MATHJAX, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def _init_signature(app, what, name, obj, options, signature, return_annotation):
    """Show a class's constructor arguments: Keras's Layer.__new__(*args, **kwargs) hides them."""
    import inspect

    if what == "class" and signature == "(*args, **kwargs)" and "__init__" in vars(obj):
        try:
            sig = inspect.signature(obj.__init__)
        except (TypeError, ValueError):
            return None
        params = list(sig.parameters.values())[1:]
        return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty)), return_annotation
    return None


def setup(app):
    app.connect("autodoc-process-signature", _init_signature)
    app.connect("build-finished", _copy_mathjax)
