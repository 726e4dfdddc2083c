# `make test` and `make demo` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck unit bench layer clean servers

# Debian packages of the real servers the tests start (demo/servers.py) and what building
# mysqlclient needs; installed only when one is missing and we are root (as in CI). Services
# are never started (a policy-rc.d forbids it during the install when none is in place): the
# test fixtures start their own throwaway instances.
SERVER_PACKAGES := postgresql redis-server mariadb-server default-libmysqlclient-dev gcc pkg-config

servers:
	@missing=$$(for p in $(SERVER_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q ' installed$$' || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages: $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  policy=/usr/sbin/policy-rc.d; own_policy=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' >$$policy; chmod +x $$policy; own_policy=1; fi; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  status=$$?; if [ -n "$$own_policy" ]; then rm -f $$policy; fi; exit $$status; \
	fi

# mysqlclient builds from source: the build dependencies come first (order-only).
$(STAMP): pyproject.toml | servers
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Microsoft's Azure Functions library worker (azure-functions-runtime) runs on Python 3.13+
# only: a second environment, made from the machine's Python 3.13 (pyenv's where present, else
# python3.13 on PATH), for tests/test_azure_runtime.py and the demo. Without a Python 3.13 none
# is made and those use the emulated worker (demo/azure_worker.py) alone.
VENV313 := .venv313
STAMP313 := $(VENV313)/.installed
PYTHON313 ?= $(firstword $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))

$(STAMP313): pyproject.toml
	@if [ -z "$(PYTHON313)" ] || ! "$(PYTHON313)" -c '' 2>/dev/null; then \
	  echo "no Python 3.13: the Azure library worker is not set up (emulated worker only)"; \
	else \
	  set -e; \
	  test -x $(VENV313)/bin/python || "$(PYTHON313)" -m venv $(VENV313); \
	  $(VENV313)/bin/python -m pip install -q --upgrade pip; \
	  $(VENV313)/bin/python -m pip install -q -e '.[azure-worker]'; \
	  touch $@; \
	fi

unit: $(STAMP313)
demo: $(STAMP313)
clean: clean-venv313

.PHONY: clean-venv313
clean-venv313:
	rm -rf $(VENV313)

lint: $(STAMP)
	$(VENV)/bin/ruff check instana_serverless tests bench demo lambda_layer cloudrun azure docs
	$(VENV)/bin/ruff format --check instana_serverless tests bench demo lambda_layer cloudrun azure docs

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP) servers
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
