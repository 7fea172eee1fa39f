# kreg: two commands do everything (see README.md)
#   make test     set-up if needed, then the suite once per backend
#   make lesson   set-up if needed, then KERAS_BACKEND=jax python lessons/l10_dropout.py
#
# Variables:  LESSON=l10_dropout BACKEND=jax ARGS="--quick"   (make lesson)
#             BACKENDS="tensorflow jax torch" PYTEST_ARGS="-k dropout"  (make test)
#             BACKEND=jax LESSONS="l10_dropout l11_batchnorm" ARGS=--quick REPO_URL=<git URL>  (make notebooks)
#             LESSONS="..."  (make site: the lessons on the site, default all)
#             TORCH_SPEC / PIP_TORCH_ARGS: the CPU build of PyTorch installed first
#             on machines without an NVIDIA GPU (so pip does not pull several GB of
#             CUDA packages). Elsewhere, point pip at PyTorch's CPU wheel index, e.g.
#             make test PIP_TORCH_ARGS="--extra-index-url <PyTorch CPU index URL>"

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BACKENDS ?= tensorflow jax torch
LESSON ?= l10_dropout
BACKEND ?= jax
ARGS ?=
PYTEST_ARGS ?=
LESSONS ?=
# the git URL the notebooks' first cell installs kreg from where it is missing (Colab); default: origin's
REPO_URL ?= $(shell git remote get-url origin 2>/dev/null)
TORCH_SPEC ?= torch==2.13.0+cpu
PIP_TORCH_ARGS ?=
EXTRAS ?= all,test,docs
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)

.PHONY: setup test test-slow lesson lessons bench notebooks site site-test clean

setup: $(VENV)/.kreg-installed

$(VENV)/.kreg-installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "== installing kreg[$(EXTRAS)] into $(VENV)"
ifneq ($(HAS_GPU),yes)
	@echo "   no NVIDIA GPU found: installing the CPU build of PyTorch first ($(TORCH_SPEC))"
	$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_TORCH_ARGS) "$(TORCH_SPEC)"
endif
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	@touch $@

test: setup
	$(PY) tests/matrix.py --backends "$(BACKENDS)" -- $(PYTEST_ARGS)

# The slow suite runs each lesson's default setting per backend, then tabulates the
# verdicts of every backend in lessons/VERDICTS.md (tests/verdicts.py), which fails
# when a claim holds on one backend and does not hold on another.
test-slow: setup
	$(PY) tests/matrix.py --backends "$(BACKENDS)" --no-multi-device -- -m slow $(PYTEST_ARGS); status=$$?; \
	$(PY) tests/verdicts.py || status=1; exit $$status

lesson: setup
	KERAS_BACKEND=$(BACKEND) $(PY) lessons/$(LESSON).py $(ARGS)

# The course site (docs/course.py; docs/conf.py says why Sphinx + myst-nb). `make notebooks` converts
# each lesson to a notebook and executes it under one backend into build/notebooks/<backend>/;
# `make site` builds build/site/html/ from those notebooks (unexecuted ones where none was made,
# saying so) and the verdicts committed in lessons/results/: it never trains.
notebooks: setup
	REPO_URL="$(REPO_URL)" $(PY) docs/course.py notebooks --backend="$(BACKEND)" --lessons="$(LESSONS)" --args="$(ARGS)"

site: setup
	$(PY) docs/course.py site --lessons="$(LESSONS)"

# The browser test (headless Debian chromium driven by playwright), after installing chromium
# through apt where it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
site-test: setup
	@command -v chromium >/dev/null 2>&1 || { echo "== installing chromium and chromium-driver (apt-get)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }
	KERAS_BACKEND=jax $(PY) -m pytest -q tests/test_site.py $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf runs build benchmarks/results/*.tmp .pytest_cache
