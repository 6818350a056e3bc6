# Everything runs from a project-local virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-all bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

venv: $(STAMP)  ## create .venv and install the project with its test, kserve and ui extras

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,kserve,ui]'
	touch $(STAMP)

demo: venv  ## the main job: serve the shipped trained digit model with TorchServe (exported and checked), query it over HTTP
	$(BIN)/zoo-serve demo $(if $(DATA_DIR),--data-dir $(DATA_DIR))

test: venv  ## run the default test suite
	$(BIN)/python -m pytest

test-all: venv  ## the default suite plus the slow real-data runs
	$(BIN)/python -m pytest -m "slow or not slow"

bench: venv  ## CPU benchmarks (training, inference, serving, weights loading, search); results in benchmarks/results/
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/inference_speed.py
	$(BIN)/python benchmarks/serving_speed.py
	$(BIN)/python benchmarks/weights_speed.py
	$(BIN)/python benchmarks/search_speed.py

clean:  ## remove build outputs (keeps .venv)
	rm -rf build dist *.egg-info .pytest_cache runs
