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
SERVER_PACKAGES := postgresql redis-server mariadb-server rabbitmq-server default-libmysqlclient-dev gcc pkg-config

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
