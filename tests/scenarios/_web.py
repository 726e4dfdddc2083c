"""Serving one request in-process, for the web-framework scenarios: a WSGI app through a
plain environ, an ASGI app through a minimal server loop, an aiohttp app on its test server."""

from __future__ import annotations

import asyncio
import contextlib
import io
from typing import Any, Dict, List, Tuple
from wsgiref.util import setup_testing_defaults

from tests.scenarios import Scenario
from tests.webapps import BROKEN

Served = Tuple[int, bytes]


def call_wsgi(app: Any, path: str) -> Served:
    environ: Dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    environ["wsgi.errors"] = io.StringIO()
    status: List[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(line)
        return lambda data: None

    body = app(environ, start_response)
    try:
        data = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status[0].split(" ", 1)[0]), data


def call_asgi(app: Any, path: str) -> Served:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    async def serve() -> None:
        # the server-error layer re-raises after sending its 500, as uvicorn sees it
        with contextlib.suppress(Exception):
            await app(scope, receive, send)

    asyncio.run(serve())
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


class WebScenario(Scenario):
    """A framework row's scenario: the service of tests/webapps served in-process."""

    fixture = "no_target"
    error_text = f"ValueError: {BROKEN}"

    def serve(self, path: str) -> Served:
        raise NotImplementedError

    def call(self, target: Any) -> Any:
        return self.serve("/users/42")

    def failing_call(self, target: Any) -> Any:
        return self.serve("/boom")
