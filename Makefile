# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing or stale (pyproject.toml or constraints.txt
# changed since the last install) and skip the install otherwise.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench docs clean

demo: $(STAMP)
	$(BIN)/backprop report

test: $(STAMP)
	$(BIN)/python -m pytest

docs: $(STAMP)
	$(BIN)/python docs/generate.py
	$(BIN)/python docs/api_reference.py

lint: $(STAMP)
	$(BIN)/ruff check backpropcli tests benchmarks examples docs
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

$(STAMP): pyproject.toml constraints.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
	find outputs -mindepth 1 ! -name .gitkeep -delete
