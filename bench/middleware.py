"""Per-request overhead of the WSGI/ASGI middleware against the bare app.

    .venv/bin/python bench/middleware.py

Prints medians only; nothing passes or fails. "tracing only" is the Fargate mode (spans are
buffered and sent by the background reporter); "incl. flush" is the Cloud Run / generic mode
(one keep-alive POST to the local acceptor, in its own process, per request).
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import instana_serverless as instana
from bench._support import KEY, acceptor_process, median_us, table
from instana_serverless.middleware import ASGIMiddleware, WSGIMiddleware

ENVIRON: Dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/orders/42",
    "QUERY_STRING": "page=2&api_key=x",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8080",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "shop.example",
    "HTTP_X_INSTANA_T": "1234567890abcdef",
    "HTTP_X_INSTANA_S": "fedcba0987654321",
    "wsgi.input": io.BytesIO(b""),
    "wsgi.url_scheme": "http",
}


def plain_wsgi(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def make_flask() -> Any:
    import flask

    app = flask.Flask("bench")
    app.add_url_rule("/orders/<int:n>", "order", lambda n: {"id": n})
    return app.wsgi_app


def drive_wsgi(app: Callable[..., Any]) -> Callable[[], None]:
    def start_response(status: str, headers: List[Any], *exc: Any) -> None:
        pass

    def once() -> None:
        body = app(dict(ENVIRON), start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    return once


async def plain_asgi(scope: Dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def drive_asgi(app: Any, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/orders/42",
        "query_string": b"page=2",
        "headers": [(b"host", b"shop.example"), (b"x-instana-t", b"1234567890abcdef")],
    }

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Dict[str, Any]) -> None:
        pass

    async def many() -> None:
        for _ in range(50):
            await app(scope, receive, send)

    def once() -> None:
        loop.run_until_complete(many())

    return once


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "30"))
    for name in list(os.environ):  # measure the generic platform, whatever the machine says
        if name.startswith(("AWS_", "K_", "FUNCTIONS_", "ECS_")):
            del os.environ[name]
    rows = []
    with acceptor_process() as url:
        os.environ.update({"INSTANA_ENDPOINT_URL": url, "INSTANA_AGENT_KEY": KEY})
        client = instana.configure()

        def timed(fn: Callable[[], None], inner: int) -> float:
            for _ in range(inner):
                fn()
            return median_us(fn, rounds, inner)

        def traced_without_flush(app: Any) -> Callable[[], None]:
            call = drive_wsgi(WSGIMiddleware(app, flush=False))

            def traced() -> None:
                call()
                client.buffer.drain()

            return traced

        bare = timed(drive_wsgi(plain_wsgi), 500)
        traced = timed(traced_without_flush(plain_wsgi), 500)
        flushed = timed(drive_wsgi(WSGIMiddleware(plain_wsgi, flush=True)), 20)
        flask_app = make_flask()
        flask_bare = timed(drive_wsgi(flask_app), 200)
        flask_traced_us = timed(traced_without_flush(flask_app), 200)

        loop = asyncio.new_event_loop()
        asgi_bare = timed(drive_asgi(plain_asgi, loop), 5) / 50
        asgi_mw = ASGIMiddleware(plain_asgi, flush=False)
        asgi_run = drive_asgi(asgi_mw, loop)

        def asgi_traced_once() -> None:
            asgi_run()
            client.buffer.drain()

        asgi_traced = timed(asgi_traced_once, 5) / 50
        asgi_flushed = timed(drive_asgi(ASGIMiddleware(plain_asgi, flush=True), loop), 1) / 50
        loop.close()

        rows = [
            ("WSGI bare app", f"{bare:.1f} us"),
            ("WSGI + middleware, tracing only", f"{traced:.1f} us"),
            ("  overhead", f"{traced - bare:.1f} us"),
            ("WSGI + middleware incl. flush", f"{flushed:.1f} us"),
            ("Flask bare app", f"{flask_bare:.1f} us"),
            ("Flask + middleware, tracing only", f"{flask_traced_us:.1f} us"),
            ("  overhead", f"{flask_traced_us - flask_bare:.1f} us"),
            ("ASGI bare app", f"{asgi_bare:.1f} us"),
            ("ASGI + middleware, tracing only", f"{asgi_traced:.1f} us"),
            ("  overhead", f"{asgi_traced - asgi_bare:.1f} us"),
            ("ASGI + middleware incl. flush (executor)", f"{asgi_flushed:.1f} us"),
        ]
    print("instana-serverless middleware benchmark (medians per request)")
    print(table(rows))


if __name__ == "__main__":
    main()
