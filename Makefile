# edge: the two commands a new user needs are `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-dev
RSTAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench soak cluster conformance clean venv

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RSTAMP)

venv: $(STAMP)

demo: $(RSTAMP)
	$(BIN)/python -m edge.runtime.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy edge origin_stub conformance

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# Mixed traffic with origin faults against edge + origin stub for SOAK_SECONDS (600): RSS,
# fds, connections, hit ratio and errors sampled into bench/results/soak/ (not in make test).
soak: $(STAMP)
	$(BIN)/python -m bench.soak

cluster: $(RSTAMP)
	$(BIN)/python -m edge.runtime.cluster_demo

# The public cache-tests suite through an edge (Node.js and ../shared/cache-tests or
# $$CACHE_TESTS_DIR; skipped when either is missing). Fails on a required failure that
# conformance/baseline.json does not list.
conformance: $(RSTAMP)
	$(BIN)/python -m conformance.run

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
