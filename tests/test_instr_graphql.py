"""GraphQL over graphene, strawberry and ariadne: the entry carrying an operation becomes
``graphql.server`` with the operation's type, name, fields and argument names.

Served as users serve them (graphene in a Flask view and ariadne's WSGI app on gunicorn,
strawberry's and ariadne's ASGI apps on uvicorn, behind our middleware) and executed directly
inside a Lambda handler and with no entry at all.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import instana_serverless as instana
from demo.harness import listening
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.conftest import AGENT_KEY, free_port
from tests.graphql_apps import FAILING_QUERY, FAILURE, MUTATION, NAMED_QUERY
from tests.instr_support import in_lambda, traced

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TRACE = "a1b2c3d4e5f60718"
PARENT = "0918273645aabbcc"

# (label, command line for the app at tests.graphql_apps.servers:<factory>)
__all__ = ["traced"]  # a fixture, used by name as a test argument

SERVERS: List[Tuple[str, List[str]]] = [
    (
        "graphene-flask-gunicorn",
        [str(BIN / "gunicorn"), "--workers", "1", "tests.graphql_apps.servers:flask_graphene()"],
    ),
    (
        "ariadne-wsgi-gunicorn",
        [str(BIN / "gunicorn"), "--workers", "1", "tests.graphql_apps.servers:ariadne_wsgi()"],
    ),
    (
        "strawberry-asgi-uvicorn",
        [str(BIN / "uvicorn"), "--factory", "tests.graphql_apps.servers:strawberry_asgi"],
    ),
    (
        "ariadne-asgi-uvicorn",
        [str(BIN / "uvicorn"), "--factory", "tests.graphql_apps.servers:ariadne_asgi"],
    ),
]


def _bind(command: List[str], port: int) -> List[str]:
    if command[0].endswith("gunicorn"):
        return [*command[:1], "--bind", f"127.0.0.1:{port}", *command[1:]]
    return [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]


@pytest.fixture(scope="module")
def served_acceptor() -> Iterator[Acceptor]:
    with Acceptor(key=AGENT_KEY) as server:
        yield server


@pytest.fixture(scope="module", params=SERVERS, ids=[label for label, _ in SERVERS])
def server(request: pytest.FixtureRequest, served_acceptor: Acceptor) -> Iterator[int]:
    _label, command = request.param
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "K_", "AWS_"))},
        "INSTANA_ENDPOINT_URL": served_acceptor.url,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        "PYTHONPATH": str(ROOT),
    }
    with listening(_bind(command, port), port, env, command[0]):
        yield port


def post(port: int, query: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"query": query}).encode()
        conn.request(
            "POST", "/graphql", body=body, headers={"Content-Type": "application/json", **headers}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def only_entry(acceptor: Acceptor) -> Dict[str, Any]:
    """The one entry of the request (ariadne also logs a resolver's error: a ``log`` exit)."""
    spans = acceptor.wait_for_spans(1, timeout=10)  # one flush per request: all of it
    acceptor.clear()
    (entry,) = [s for s in spans if s["k"] == 1]
    assert all(s["p"] == entry["s"] for s in spans if s is not entry)
    return entry


def test_operations_over_real_servers_become_graphql_server_entries(
    server: int, served_acceptor: Acceptor
) -> None:
    served_acceptor.clear()
    status, body = post(server, NAMED_QUERY, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT})
    assert status == 200 and body["data"]["book"]["title"] == "Ubik"
    span = only_entry(served_acceptor)
    assert (span["n"], span["k"], span["ec"]) == ("graphql.server", 1, 0)
    assert (span["t"], span["p"]) == (TRACE, PARENT)  # the caller's trace continues
    assert span["data"]["graphql"] == {
        "operationType": "query",
        "operationName": "GetBook",
        "fields": {"book": ["title", "author"]},
        "args": {"book": ["id", "token"]},  # names only: the token's value never leaves
    }
    assert "s3cr3t" not in json.dumps(span)
    # the HTTP entry it was keeps its http data
    assert span["data"]["http"]["method"] == "POST"
    assert span["data"]["http"]["status"] == 200

    status, body = post(server, MUTATION, {})
    assert status == 200 and body["data"]["addBook"]["title"] == "Dune"
    span = only_entry(served_acceptor)
    assert span["n"] == "graphql.server" and span["ec"] == 0
    assert span["data"]["graphql"]["operationType"] == "mutation"
    assert span["data"]["graphql"]["operationName"] == "AddBook"
    assert span["data"]["graphql"]["fields"] == {"addBook": ["title"]}

    status, body = post(server, FAILING_QUERY, {})
    assert body["errors"][0]["message"] == FAILURE  # the response is the library's own
    span = only_entry(served_acceptor)
    assert span["n"] == "graphql.server" and span["ec"] == 1
    assert span["data"]["graphql"]["errors"] == FAILURE


def test_without_an_entry_an_operation_is_its_own_entry(traced: Client, acceptor: Acceptor) -> None:
    from tests.graphql_apps.strawberry_schema import schema

    result = asyncio.run(schema.execute(NAMED_QUERY))
    assert result.errors is None
    traced.flush()
    (span,) = acceptor.wait_for_spans(1)
    assert (span["n"], span["k"], span["ec"]) == ("graphql.server", 1, 0)
    assert "p" not in span
    assert span["data"]["graphql"]["operationName"] == "GetBook"


def test_inside_a_lambda_handler_the_function_entry_keeps_its_name(
    traced: Client, acceptor: Acceptor
) -> None:
    from ariadne import graphql_sync

    from tests.graphql_apps.ariadne_schema import schema

    def body() -> Any:
        return graphql_sync(schema, {"query": FAILING_QUERY})

    (ok, _result), entry, exits = in_lambda(acceptor, body)
    assert ok
    assert [s["n"] for s in exits] == ["log"]  # ariadne logs the resolver's error
    assert entry["n"] == "aws.lambda.entry"  # the backend knows the function by this name
    assert entry["data"]["graphql"]["operationName"] == "Broken"
    assert entry["data"]["graphql"]["errors"] == FAILURE
    assert entry["ec"] == 1


def test_exits_made_by_resolvers_stay_children_of_the_renamed_entry(
    traced: Client, acceptor: Acceptor
) -> None:
    import graphene

    class Query(graphene.ObjectType):
        logged = graphene.String()

        def resolve_logged(root: Any, info: Any) -> str:
            import logging

            logging.getLogger("bookshop").warning("stock low")
            return "ok"

    schema = graphene.Schema(query=Query)
    with instana.entry_span("wsgi") as entry:
        assert schema.execute("query Stock { logged }").data == {"logged": "ok"}
    spans = {s["n"]: s for s in acceptor.wait_for_spans(2)}
    assert spans["log"]["p"] == spans["graphql.server"]["s"] == entry.span_id
    assert spans["graphql.server"]["data"]["graphql"]["fields"] == {"logged": []}


def test_a_disabled_row_leaves_the_entry_alone(traced: Client, acceptor: Acceptor) -> None:
    from tests.graphql_apps.graphene_schema import schema

    instana.configure(
        instana.Options(
            endpoint_url=acceptor.url, agent_key=AGENT_KEY, disabled_instrumentations=["graphene"]
        ),
        environ={},
    )
    with instana.entry_span("wsgi"):
        assert schema.execute(NAMED_QUERY).errors is None
    (span,) = acceptor.wait_for_spans(1)
    assert span["n"] != "graphql.server" and "graphql" not in span["data"]
