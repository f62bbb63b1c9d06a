PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,gpu]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

demo: $(STAMP)
	$(BIN)/tracelet instrument examples/demo.py --diff --explain
	cd examples && ../$(BIN)/tracelet run demo.py --C 0.25

lint: $(STAMP)
	$(BIN)/ruff check tracelet tests bench
	$(BIN)/ruff format --check tracelet tests bench

clean:
	rm -rf $(VENV) .tracelet_cache .pytest_cache
