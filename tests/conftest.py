"""Shared fixtures: a real local acceptor over loopback HTTP and a client configured for it."""

from __future__ import annotations

import logging
from typing import Iterator

import pytest

import instana_serverless as instana
from demo.harness import free_port as free_port  # shared with the demo
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client

AGENT_KEY = "test-agent-key-7f3a9c"


@pytest.fixture
def acceptor() -> Iterator[Acceptor]:
    with Acceptor(key=AGENT_KEY) as server:
        yield server


@pytest.fixture
def client(acceptor: Acceptor) -> Iterator[Client]:
    yield instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, timeout_ms=300), environ={}
    )
    instana.configure(environ={})


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record our logger emits, at every level."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    ours = logging.getLogger("instana_serverless")
    ours.addHandler(handler)
    yield records
    ours.removeHandler(handler)
