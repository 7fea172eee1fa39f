# kreg: two commands do everything (see README.md)
#   make test     set-up if needed, then the suite once per backend
#   make lesson   set-up if needed, then KERAS_BACKEND=jax python lessons/l10_dropout.py
#
# Variables:  LESSON=l10_dropout BACKEND=jax ARGS="--quick"   (make lesson)
#             BACKENDS="tensorflow jax torch" PYTEST_ARGS="-k dropout"  (make test)
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
TORCH_SPEC ?= torch==2.13.0+cpu
PIP_TORCH_ARGS ?=
EXTRAS ?= all,test
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)

.PHONY: setup test test-slow lesson lessons bench clean

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

bench: setup
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf runs benchmarks/results/*.tmp .pytest_cache
