# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch 2.13.0 is installed first and pinned: an unpinned torch pulls several GB of CUDA wheels.
TORCH_VERSION ?= 2.13.0
# The CI machines' pip finds a CPU build of that version locally. Elsewhere PyPI's Linux wheel brings CUDA;
# for the CPU build there: make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: setup test test-all lint demo throughput clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -e ".[test,bench]"
	touch $@

setup: $(VENV)/.installed

test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q

test-all: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -m ""

lint: setup
	$(PY) -m pip install -q -e ".[lint]"
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

demo: setup
	OMP_NUM_THREADS=1 $(PY) -m sb3_rpg.demo

throughput: setup
	OMP_NUM_THREADS=1 $(PY) benchmarks/throughput.py

clean:
	rm -rf $(VENV) build dist *.egg-info
