# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create the pinned virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c requirements/constraints.txt

LATEST := .venv-latest

.PHONY: demo test test-fast env clean-env test-latest

demo: $(STAMP)
	$(BIN)/yoloxkit demo --out runs/demo

# Every test, the slow ones included (-m "" lifts the default `-m 'not slow'` of pyproject.toml).
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --max-worker-restart=0 -q --durations=15 -m ""

# The fast tests only: what a bare `pytest` runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

env: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt requirements/dev.txt requirements/benchmarks.txt requirements/reference.txt tools/torchvision_shim/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -r requirements/dev.txt -r requirements/benchmarks.txt -e .
	$(PIP) --no-deps -r requirements/reference.txt ./tools/torchvision_shim
	touch $(STAMP)

clean-env:
	rm -rf $(VENV) $(LATEST)

# Before each release: the project as `pip install -e .` resolves it for a user (the newest
# versions its pyproject allows, no constraints file), with the fast tests (`-m "not slow"`).
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --disable-pip-version-check -q --upgrade -e ".[dev,export,serve]" -r requirements/dev.txt
	$(LATEST)/bin/python -m pip install --disable-pip-version-check -q --no-deps -r requirements/reference.txt ./tools/torchvision_shim
	$(LATEST)/bin/python -m pip list --format=freeze > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest -n 2 --dist loadfile -q -m "not slow"
