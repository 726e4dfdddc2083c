"""Shared fixtures: a real local acceptor over loopback HTTP, a client configured for it, the
GCP metadata server emulated on loopback, and our logger's records."""

from __future__ import annotations

import logging
from typing import Any, Iterator

import pytest

import instana_serverless as instana
from demo.harness import free_port as free_port  # shared with the demo
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.test_cloudrun_metadata import MetadataEmulator

AGENT_KEY = "test-agent-key-7f3a9c"


@pytest.fixture
def acceptor() -> Iterator[Acceptor]:
    with Acceptor(key=AGENT_KEY) as server:
        yield server


def configure_for(acceptor: Acceptor, **options: Any) -> Client:
    """The global client reporting to ``acceptor``, with ``options`` and no environment."""
    return instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, **options), environ={}
    )


@pytest.fixture
def client(acceptor: Acceptor) -> Iterator[Client]:
    yield configure_for(acceptor, timeout_ms=300)
    instana.configure(environ={})


@pytest.fixture
def emulator() -> Iterator[MetadataEmulator]:
    """The GCP metadata server on loopback, for the Cloud Run tests."""
    with MetadataEmulator() as server:
        yield server


class Collect(logging.Handler):
    """Keeps every record it is handed, at every level."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record our logger emits, at every level."""
    handler = Collect()
    ours = logging.getLogger("instana_serverless")
    ours.addHandler(handler)
    yield handler.records
    ours.removeHandler(handler)
