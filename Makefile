# Two commands for a fresh machine (Python 3.11, pip and make are all it needs):
#   make repro   install into .venv and run the whole pipeline (dvc repro)
#   make test    install into .venv and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
# dvc runs each stage's `python` from PATH: make it the virtual environment's.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install repro test lint clean-venv

install: $(STAMP)

# Re-install only when the dependency list changes; the editable install picks up code edits.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

repro: $(STAMP)
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean-venv:
	rm -rf $(VENV)
