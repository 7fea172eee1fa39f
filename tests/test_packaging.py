"""Packaging: environment.yml and pyproject.toml name the same requirements; the public API."""

import re
import tomllib
from pathlib import Path

import kreg

ROOT = Path(__file__).resolve().parent.parent


def _norm(req):
    name = re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-"), req.strip()[len(name):].strip()


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(py["dependencies"])
    for extra in ("all", "test"):
        wanted += py["optional-dependencies"][extra]
    text = (ROOT / "environment.yml").read_text()
    pip_block = text.split("- pip:", 1)[1]
    pip_reqs = [ln.strip()[2:].strip() for ln in pip_block.splitlines()
                if ln.strip().startswith("- ") and not ln.strip().startswith("- -e")]
    assert dict(map(_norm, pip_reqs)) == dict(map(_norm, wanted))


def test_extras_cover_every_backend():
    opt = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {_norm(r)[0] for r in opt["all"]}
    assert {"tensorflow", "jax", "torch"} <= names
    for backend in ("tensorflow", "jax", "torch"):
        assert {_norm(r)[0] for r in opt[backend]} == {backend}


def test_public_api():
    assert re.fullmatch(r"\d+\.\d+\.\d+", kreg.__version__)
    for name in kreg.__all__:
        assert getattr(kreg, name) is not None, name
    assert "data" in dir(kreg)


def test_top_level_exports_are_the_submodules_objects():
    from kreg import callbacks, layers, regularizers

    assert kreg.DropConnect is layers.DropConnect
    assert kreg.L2 is regularizers.L2
    assert kreg.EarlyStopping is callbacks.EarlyStopping
    kreg.register_all()
