# Everything runs from a project-local virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-all bench docs clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

venv: $(STAMP)  ## create .venv and install the project with its test, kserve, ui and docs extras

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,kserve,ui,docs]'
	touch $(STAMP)

demo: venv  ## the main job: serve the shipped trained digit model with TorchServe (exported and checked), query it over HTTP
	$(BIN)/zoo-serve demo $(if $(DATA_DIR),--data-dir $(DATA_DIR))

docs: venv  ## the documentation site, offline, from the cards, results, registry, README and CLI: docs/build/site/index.html
	$(BIN)/python docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --quiet --strict -f docs/mkdocs.yml
	@echo "site: docs/build/site/index.html ($$(du -sh docs/build/site | cut -f1))"

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
