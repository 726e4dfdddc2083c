# `make test` and `make demo` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck unit bench layer clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check instana_serverless tests bench demo lambda_layer cloudrun azure
	$(VENV)/bin/ruff format --check instana_serverless tests bench demo lambda_layer cloudrun azure

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest

test: lint typecheck unit

demo: $(STAMP)
	$(PY) -m demo

bench: $(STAMP)
	$(PY) bench/run.py

# One layer per Lambda runtime: its bytecode serves the Python that builds it (standard library
# only, no venv needed). `make layer` for the Python at hand, `PYTHON=python3.12 make layer`
# for another; the zip's name says which (dist/instana-serverless-layer-python3.X.zip).
layer:
	$(PYTHON) lambda_layer/build.py

clean:
	rm -rf $(VENV) build *.egg-info
