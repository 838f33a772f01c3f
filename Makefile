# dermkit: `make demo` (install + the whole flow on synthetic data) and `make test` (the whole suite).
SHELL := bash
.SHELLFLAGS := -o pipefail -ec
VENV ?= .venv
PY := $(VENV)/bin/python
PIP_QUIET := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: install demo test lint format bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e ".[dev]" 2>&1 | { $(PIP_QUIET); }
	touch $@

install: $(VENV)/.installed  ## create .venv and install dermkit with pinned dependencies

demo: install  ## synthesise data, train on CPU, evaluate and predict (a few minutes)
	$(VENV)/bin/dermkit demo --out runs/demo

test: install  ## lint + the whole test suite
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: install  ## dermkit vs a plain PyTorch loop, and the bootstrap's two paths, side by side
	$(PY) benchmarks/overhead.py
	$(PY) benchmarks/bootstrap.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
