"""What the exit-span tests (tests/test_instr_*.py and the contract suite) share: a traced
client, one invocation of a real ``@lambda_handler`` function, the exit spans that arrived,
the trace header names, and a database span's data."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from tests.lambda_fixtures import make_context

# The trace context headers (lower case) an instrumented request carries.
TRACE_HEADERS = ("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate")


@pytest.fixture
def patched() -> Iterator[None]:
    """Every row patched, for a test that configures the client itself; undone after."""
    uninstrument()
    instrument()
    yield
    uninstrument()
    instana.configure(environ={})


@pytest.fixture
def traced(client: Client) -> Iterator[Client]:
    uninstrument()
    instrument()
    yield client
    uninstrument()


def exits(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if s["k"] == 2]


def in_lambda(
    acceptor: Acceptor, body: Callable[[], Any], expected_spans: int = 2
) -> Tuple[Any, Dict[str, Any], List[Dict[str, Any]]]:
    """``body`` run as a Lambda invocation: its result, the entry span and the exit spans."""

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return body()

    result = handler({}, make_context())
    spans = acceptor.wait_for_spans(expected_spans)
    (entry,) = [s for s in spans if s["k"] == 1]
    assert entry["n"] == "aws.lambda.entry"
    return result, entry, exits(spans)


def in_entry(
    acceptor: Acceptor, body: Callable[[], Any], expected_spans: int = 2
) -> Tuple[Any, Dict[str, Any], List[Dict[str, Any]]]:
    """``body`` inside a plain entry span."""
    with instana.entry_span("job"):
        result = body()
    spans = acceptor.wait_for_spans(expected_spans)
    (entry,) = [s for s in spans if s["k"] == 1]
    return result, entry, exits(spans)


def sent(acceptor: Acceptor) -> str:
    """Every span's data the backend received, as text (to check no secret or value leaked;
    the bundles' metrics hold arbitrary numbers, so only span data is searched)."""
    return json.dumps([span.get("data") for span in acceptor.spans()])


def db_data(section: str, server: Any, stmt: str) -> Dict[str, Any]:
    """A database exit's ``data`` for ``stmt`` sent to a ``server`` of tests/servers.py."""
    return {
        section: {
            "stmt": stmt,
            "host": server.host,
            "port": server.port,
            "db": server.dbname,
            "user": server.user,
        }
    }
