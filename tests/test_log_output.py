"""What the log says on each platform wrapper (issue 19, "is it working?").

With ``INSTANA_DEBUG=true``: one configuration line, then one line per flush. At the default
level: an unreachable backend over 100 invocations is one WARNING, and its recovery one line.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Dict, Iterator, List

import azure.functions as func
import pytest
from werkzeug.test import Client as WerkzeugClient
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.azure import azure_function
from instana_serverless.middleware import ASGIMiddleware, WSGIMiddleware
from tests.conftest import AGENT_KEY, free_port
from tests.lambda_fixtures import load_event, make_context
from tests.test_azure_support import WorkerContext, http_request, index_app, invoke

CONFIG_LINE = "instana-serverless "
FLUSH_LINE = "flush: "


@pytest.fixture(autouse=True)
def unconfigured_afterwards() -> Iterator[None]:
    yield
    instana.configure(environ={})


def lambda_invoker(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    @instana.lambda_handler
    def handler(event: Any, context: Any) -> Dict[str, int]:
        return {"statusCode": 200}

    return lambda: handler(load_event("api_gateway_rest"), make_context())


def cloud_run_invoker(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    from instana_serverless.gcp import cloud_run, runtime
    from instana_serverless.gcp.runtime import CloudRunInstance

    monkeypatch.setattr(runtime, "_instance", CloudRunInstance({}))  # restored afterwards

    @cloud_run
    def hello(request: Any) -> str:
        return "hello"

    def call() -> None:
        hello(Request(EnvironBuilder(path="/c").get_environ()))

    return call


def wsgi_invoker(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    client = WerkzeugClient(WSGIMiddleware(app, flush=True))
    return lambda: client.get("/w").close()


def asgi_invoker(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/a", "headers": [], "query_string": b""}
    middleware = ASGIMiddleware(app, flush=True)
    return lambda: asyncio.run(middleware(scope, receive, send))


def azure_invoker(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    for name, value in {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "WEBSITE_SITE_NAME": "orders-app",
        "WEBSITE_OWNER_NAME": "0000-1111+orders-rg-westeurope",
        "WEBSITE_RESOURCE_GROUP": "orders-rg",
    }.items():
        monkeypatch.setenv(name, value)
    app = func.FunctionApp()

    @app.route(route="orders")
    @azure_function
    def orders(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    function = index_app(app)["orders"]
    return lambda: invoke(function, http_request(), context=WorkerContext("orders"))


def entry_span_invoker(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    def call() -> None:
        with instana.entry_span("nightly-import"):
            pass

    return call


PLATFORMS = {
    "lambda": lambda_invoker,
    "cloud_run": cloud_run_invoker,
    "wsgi": wsgi_invoker,
    "asgi": asgi_invoker,
    "azure": azure_invoker,
    "entry_span": entry_span_invoker,
}


def ours(records: List[logging.LogRecord], level: int) -> List[str]:
    return [r.getMessage() for r in records if r.levelno == level]


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_debug_shows_the_configuration_line_and_one_line_per_flush(
    platform: str,
    acceptor: Acceptor,
    all_logs: List[logging.LogRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY),
        environ={"INSTANA_DEBUG": "true"},
    )
    call = PLATFORMS[platform](monkeypatch)
    for _ in range(3):
        call()
    info = [m for m in ours(all_logs, logging.INFO) if m.startswith(CONFIG_LINE)]
    assert len(info) == 1, info
    line = info[0]
    assert f"endpoint {acceptor.url}" in line and "sending: " in line
    assert "instrumentations: " in line and instana.__version__ in line
    flushes = [m for m in ours(all_logs, logging.DEBUG) if m.startswith(FLUSH_LINE)]
    assert len(acceptor.requests) >= 3
    assert len(flushes) == len(acceptor.requests), flushes
    assert all(" spans, " in m and "bytes, HTTP 204, " in m and m.endswith(" ms") for m in flushes)
    assert ours(all_logs, logging.WARNING) == []


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_default_level_an_unreachable_backend_is_one_warning_and_its_recovery_one_line(
    platform: str, all_logs: List[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    instana.configure(
        instana.Options(
            endpoint_url=f"http://127.0.0.1:{port}", agent_key=AGENT_KEY, timeout_ms=200
        ),
        environ={},
    )
    call = PLATFORMS[platform](monkeypatch)
    for _ in range(100):
        call()
    shown = [r.getMessage() for r in all_logs if r.levelno >= logging.WARNING]
    assert len(shown) == 1, shown
    assert shown[0].startswith(f"spans cannot be delivered to http://127.0.0.1:{port} (")
    assert "spans wait in the buffer" in shown[0] and "INSTANA_ENDPOINT_URL" in shown[0]
    assert [r for r in all_logs if r.levelno < logging.WARNING] == []
    with Acceptor(key=AGENT_KEY, port=port) as backend:
        for _ in range(3):
            call()
        assert backend.spans(), "the waiting spans arrive"
    shown = [r.getMessage() for r in all_logs if r.levelno >= logging.WARNING]
    assert len(shown) == 2, shown
    assert "are delivered to" in shown[1] and "again, after" in shown[1]


def test_a_full_buffer_is_one_warning_with_the_count(all_logs: List[logging.LogRecord]) -> None:
    client = instana.configure(
        instana.Options(
            endpoint_url=f"http://127.0.0.1:{free_port()}", agent_key=AGENT_KEY, timeout_ms=200
        ),
        environ={},
    )
    client.buffer.capacity = 10
    for _ in range(30):
        with instana.entry_span("job"):
            pass
    shown = [r.getMessage() for r in all_logs if r.levelno >= logging.WARNING]
    assert len(shown) == 2, shown
    assert shown[1].startswith("the span buffer is full: 1 spans were dropped")
    assert client.buffer.dropped == 20
