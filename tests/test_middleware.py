"""WSGI middleware around a real Flask app and a real wsgiref server; ASGI middleware around a
plain ASGI app driven through real scope/receive/send coroutines (no framework is installed)."""

from __future__ import annotations

import asyncio
import http.client
import os
import threading
from typing import Any, Dict, Iterator, List
from wsgiref.simple_server import WSGIRequestHandler, make_server

import flask
import pytest
from werkzeug.test import Client as WerkzeugClient

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.middleware import ASGIMiddleware, WSGIMiddleware
from instana_serverless.tracer import current_span
from tests.conftest import configure_for

TRACE = "1234567890abcdef"
PARENT = "fedcba0987654321"


@pytest.fixture(autouse=True)
def _generic_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "K_", "FUNCTIONS_", "ECS_")):
            monkeypatch.delenv(name)


def make_flask_app() -> flask.Flask:
    app = flask.Flask("shop")
    seen: Dict[str, Any] = {}
    app.config["seen"] = seen

    @app.route("/orders/<int:order_id>")
    def order(order_id: int) -> Any:
        seen["span"] = current_span()
        return {"id": order_id}

    @app.route("/boom")
    def boom() -> Any:
        raise ValueError("no stock")

    @app.route("/unavailable")
    def unavailable() -> Any:
        return "down", 503, {"Server-Timing": "db;dur=53"}

    @app.route("/stream")
    def stream() -> Any:
        def chunks() -> Iterator[str]:
            seen["stream_span"] = current_span()
            yield "a"
            yield "b"

        return flask.Response(chunks())

    return app


class BufferedClient(WerkzeugClient):
    """Consumes and closes the body like a real server does before returning."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["buffered"] = True
        return super().open(*args, **kwargs)


def wsgi_client(app: flask.Flask, **kwargs: Any) -> WerkzeugClient:
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, **kwargs)  # type: ignore[method-assign]
    return BufferedClient(app)


def test_wsgi_entry_continues_the_trace(client: Client, acceptor: Acceptor) -> None:
    app = make_flask_app()
    response = wsgi_client(app).get(
        "/orders/7?q=shoes&api_key=hunter2",
        headers={"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT, "Host": "shop.example"},
    )
    assert response.status_code == 200
    assert response.headers["Server-Timing"] == f"intid;desc={TRACE}"
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "wsgi" and span["k"] == 1
    assert span["t"] == TRACE and span["p"] == PARENT
    http_data = span["data"]["http"]
    assert http_data["method"] == "GET"
    assert http_data["url"] == "/orders/7"
    assert http_data["path"] == "/orders/7"  # data.http.path, as the official sensor sends it
    assert http_data["host"] == "shop.example"
    assert http_data["status"] == 200
    assert http_data["params"] == "q=shoes&api_key=<redacted>"
    assert span["ec"] == 0
    assert app.config["seen"]["span"].span_id == span["s"], "span active inside the app"
    assert current_span() is None, "nothing left active after the request"


def test_mounted_apps_send_the_full_url_and_the_routed_path(
    client: Client, acceptor: Acceptor
) -> None:
    app = make_flask_app()
    response = wsgi_client(app).get("/orders/7", environ_overrides={"SCRIPT_NAME": "/shop"})
    assert response.status_code in (200, 404)
    asyncio.run(call_asgi(ASGIMiddleware(make_asgi_app()), path="/items", root_path="/api"))
    wsgi, asgi = acceptor.wait_for_spans(2)
    assert (wsgi["data"]["http"]["url"], wsgi["data"]["http"]["path"]) == (
        "/shop/orders/7",
        "/orders/7",
    )
    assert (asgi["data"]["http"]["url"], asgi["data"]["http"]["path"]) == ("/api/items", "/items")


def test_wsgi_new_trace_and_w3c(client: Client, acceptor: Acceptor) -> None:
    app = make_flask_app()
    wsgi_client(app).get("/orders/1")
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    wsgi_client(make_flask_app()).get("/orders/2", headers={"traceparent": traceparent})
    first, second = acceptor.wait_for_spans(2)
    assert "p" not in first
    assert second["t"] == "a3ce929d0e0e4736" and second["p"] == "00f067aa0ba902b7"
    assert second["lt"] == "4bf92f3577b34da6a3ce929d0e0e4736" and second["tp"] is True


def test_wsgi_cloud_trace_context_header(client: Client, acceptor: Acceptor) -> None:
    wsgi_client(make_flask_app()).get(
        "/orders/3",
        headers={"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1234567890;o=1"},
    )
    [span] = acceptor.wait_for_spans(1)
    assert span["t"] == "f206b12000100000"
    assert span["p"] == f"{1234567890:016x}"


def test_wsgi_exception_marks_error_and_is_reraised(client: Client, acceptor: Acceptor) -> None:
    app = make_flask_app()
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(ValueError, match="no stock"):
        wsgi_client(app).get("/boom")
    [span] = acceptor.wait_for_spans(1)
    assert span["ec"] == 1
    assert span["data"]["http"]["status"] == 500
    assert span["data"]["http"]["error"] == "ValueError: no stock"


def test_wsgi_5xx_marks_error_and_merges_server_timing(client: Client, acceptor: Acceptor) -> None:
    response = wsgi_client(make_flask_app()).get("/unavailable")
    assert response.status_code == 503
    [span] = acceptor.wait_for_spans(1)
    assert span["ec"] == 1 and span["data"]["http"]["status"] == 503
    assert response.headers["Server-Timing"] == f"db;dur=53, intid;desc={span['t']}"


def test_wsgi_streamed_body_ends_the_span_when_consumed(client: Client, acceptor: Acceptor) -> None:
    app = make_flask_app()
    response = wsgi_client(app).get("/stream")
    assert response.get_data(as_text=True) == "ab"
    [span] = acceptor.wait_for_spans(1)
    assert app.config["seen"]["stream_span"].span_id == span["s"], "active while streaming"


def test_wsgi_suppressed_request_sends_nothing(client: Client, acceptor: Acceptor) -> None:
    response = wsgi_client(make_flask_app()).get("/orders/1", headers={"X-INSTANA-L": "0"})
    assert response.status_code == 200
    assert "Server-Timing" not in response.headers
    assert acceptor.spans() == []


def test_wsgi_disabled_is_a_passthrough(acceptor: Acceptor) -> None:
    instana.configure(environ={})  # no endpoint, no key
    try:
        response = wsgi_client(make_flask_app()).get("/orders/1")
        assert response.status_code == 200 and "Server-Timing" not in response.headers
    finally:
        instana.configure(environ={})
    assert acceptor.requests == []


def test_wsgi_extra_headers_captured(acceptor: Acceptor) -> None:
    configure_for(acceptor, extra_http_headers=["X-Request-Id", "Content-Type"])
    try:
        wsgi_client(make_flask_app()).get(
            "/orders/1", headers={"X-Request-Id": "r-1", "Content-Type": "text/plain"}
        )
        [span] = acceptor.wait_for_spans(1)
        assert span["data"]["http"]["header"] == {
            "x-request-id": "r-1",
            "content-type": "text/plain",
        }
    finally:
        instana.configure(environ={})


def test_wsgi_flush_false_keeps_spans_buffered(client: Client, acceptor: Acceptor) -> None:
    wsgi_client(make_flask_app(), flush=False).get("/orders/1")
    assert acceptor.requests == []
    assert len(client.buffer) == 1


def test_wsgi_with_a_real_server(client: Client, acceptor: Acceptor) -> None:
    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    app = make_flask_app()
    server = make_server("127.0.0.1", 0, WSGIMiddleware(app.wsgi_app), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
        conn.request("GET", "/orders/9", headers={"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT})
        response = conn.getresponse()
        assert response.read() and response.status == 200
        assert response.getheader("Server-Timing") == f"intid;desc={TRACE}"
        [span] = acceptor.wait_for_spans(1)
        assert span["t"] == TRACE and span["data"]["http"]["url"] == "/orders/9"
    finally:
        server.shutdown()
        server.server_close()


# -- ASGI --------------------------------------------------------------------------------------


async def call_asgi(
    app: Any,
    path: str = "/items",
    headers: List[tuple[bytes, bytes]] | None = None,
    query: bytes = b"",
    root_path: str = "",
) -> List[Dict[str, Any]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "root_path": root_path,
        "query_string": query,
        "headers": [(b"host", b"api.example")] + (headers or []),
        "server": ("127.0.0.1", 8000),
    }
    sent: List[Dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> Dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def make_asgi_app(status: int = 201, fail: bool = False, seen: Dict[str, Any] | None = None) -> Any:
    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        request = await receive()
        assert request["type"] == "http.request"
        if seen is not None:
            seen["span"] = current_span()
        if fail:
            raise RuntimeError("db down")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"ok"', "more_body": True})
        await send({"type": "http.response.body", "body": b":1}"})

    return app


def test_asgi_entry_span(client: Client, acceptor: Acceptor) -> None:
    seen: Dict[str, Any] = {}
    app = ASGIMiddleware(make_asgi_app(seen=seen))
    sent = asyncio.run(
        call_asgi(
            app,
            headers=[(b"x-instana-t", TRACE.encode()), (b"x-instana-s", PARENT.encode())],
            query=b"page=2&password=x",
        )
    )
    start = sent[0]
    assert start["status"] == 201
    assert (b"server-timing", f"intid;desc={TRACE}".encode()) in start["headers"]
    assert [m["type"] for m in sent] == [
        "http.response.start",
        "http.response.body",
        "http.response.body",
    ]
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "asgi" and span["t"] == TRACE and span["p"] == PARENT
    assert span["data"]["http"] == {
        "method": "POST",
        "url": "/items",
        "path": "/items",
        "host": "api.example",
        "params": "page=2&password=<redacted>",
        "status": 201,
    }
    assert seen["span"].span_id == span["s"]


def test_asgi_flushes_before_the_last_body_message(client: Client, acceptor: Acceptor) -> None:
    delivered_before_end: List[int] = []

    async def run() -> None:
        app = ASGIMiddleware(make_asgi_app())
        scope_sent: List[Dict[str, Any]] = []

        async def send(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                delivered_before_end.append(len(acceptor.spans()))
            scope_sent.append(message)

        async def receive() -> Dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        await app({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send)

    asyncio.run(run())
    assert delivered_before_end == [1]


def test_asgi_exception_and_5xx(client: Client, acceptor: Acceptor) -> None:
    with pytest.raises(RuntimeError, match="db down"):
        asyncio.run(call_asgi(ASGIMiddleware(make_asgi_app(fail=True))))
    asyncio.run(call_asgi(ASGIMiddleware(make_asgi_app(status=502))))
    failed, bad_gateway = acceptor.wait_for_spans(2)
    assert failed["ec"] == 1 and failed["data"]["http"]["error"] == "RuntimeError: db down"
    assert failed["data"]["http"]["status"] == 500
    assert bad_gateway["ec"] == 1 and bad_gateway["data"]["http"]["status"] == 502


def test_asgi_lifespan_passes_through(client: Client, acceptor: Acceptor) -> None:
    calls: List[str] = []

    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    asyncio.run(ASGIMiddleware(app)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert calls == ["lifespan"] and acceptor.requests == []


def test_asgi_malformed_headers_do_not_break_the_request(
    client: Client, acceptor: Acceptor
) -> None:
    sent = asyncio.run(
        call_asgi(
            ASGIMiddleware(make_asgi_app()),
            headers=[
                (b"x-instana-t", b"not-hex!"),
                (b"x-instana-s", b"\xff\xfe"),
                (b"traceparent", b"junk"),
            ],
        )
    )
    assert sent[0]["status"] == 201
    [span] = acceptor.wait_for_spans(1)
    assert "p" not in span


def test_asgi_concurrent_requests_keep_their_traces(client: Client, acceptor: Acceptor) -> None:
    async def app(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0.01)
        span = current_span()
        assert span is not None
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": span.trace_id.encode()})

    async def many() -> List[List[Dict[str, Any]]]:
        middleware = ASGIMiddleware(app)
        return await asyncio.gather(
            *(
                call_asgi(
                    middleware,
                    headers=[
                        (b"x-instana-t", f"{i:016x}".encode()),
                        (b"x-instana-s", PARENT.encode()),
                    ],
                )
                for i in range(1, 6)
            )
        )

    results = asyncio.run(many())
    assert [r[1]["body"].decode() for r in results] == [f"{i:016x}" for i in range(1, 6)]
    spans = acceptor.wait_for_spans(5)
    assert sorted(s["t"] for s in spans) == [f"{i:016x}" for i in range(1, 6)]
