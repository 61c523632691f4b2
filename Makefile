# Two commands for a fresh machine (Python 3.11, pip and make are all it needs):
#   make repro     install into .venv and run the whole pipeline (dvc repro)
#   make test      install into .venv and run the fast tests (two workers; one tiny real dvc repro)
#   make test-all  every test, the slow tier too (what CI runs)
#   make docs      rewrite the result tables in README.md and docs/ from the metrics files
#   make lpips-weights  fetch the VGG16 weights of the LPIPS term into data/weights (needs a network)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
# dvc runs each stage's `python` from PATH: make it the virtual environment's.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: install repro test test-all docs lint lpips-weights clean-venv

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
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile --durations=10

test-all: $(STAMP)
	$(BIN)/python -m pytest --durations=25

docs: $(STAMP)
	$(BIN)/python -m lab.tables

# torchvision's VGG16 weights into data/weights (needs a network): switches the LPIPS term on
lpips-weights: $(STAMP)
	$(BIN)/python -m thz.losses.perceptual --fetch

lint: $(STAMP)
	$(BIN)/ruff check .

clean-venv:
	rm -rf $(VENV)
