"""Per-request overhead of the WSGI/ASGI middleware against the bare app.

    .venv/bin/python bench/middleware.py

Prints medians only; nothing passes or fails. "tracing only" is the Fargate mode (spans are
buffered and sent by the background reporter); "incl. flush" is the Cloud Run / generic mode
(one keep-alive POST to the local acceptor, in its own process, per request).

The web-framework rows (route template, errors) are timed as what they add to a request that
goes through the framework inside our middleware: the same app with the rows patched and after
``uninstrument()`` (aim: <= 15 us), and what they add to importing the framework, as the time
spent in our import hooks (aim: <= 1 ms), next to the whole import with and without us.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

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


def make_django() -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.webapps import django_app

    return django_app.app


def make_fastapi() -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    app.add_api_route("/orders/{n}", lambda n: {"id": n})
    return app


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
        "root_path": "",
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


_HOOK_PROBE = """
import json, time
import instana_serverless as instana
instana.configure(instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="k"), environ={})
instana.instrument()
from instana_serverless.instrumentation import _imports

spent = {}
run_hooks = _imports._run

def timed_hooks(hooks, module):
    begun = time.perf_counter()
    try:
        run_hooks(hooks, module)
    finally:
        spent[module.__name__] = spent.get(module.__name__, 0.0) + time.perf_counter() - begun

_imports._run = timed_hooks
for name in IMPORTS:
    __import__(name)
print(json.dumps({name: seconds * 1000 for name, seconds in spent.items()}))
"""


def hook_cost_ms(row: str, imports: Tuple[str, ...], runs: int) -> Tuple[float, float]:
    """Median ms in our import hooks while ``imports`` load in a fresh interpreter: those of
    the framework row's own modules, and those of every row the import triggers (``logging``,
    ``http.client``… imported by the framework: what a user importing it pays with us)."""
    import json
    import statistics
    import subprocess

    from instana_serverless.instrumentation.registry import BY_NAME

    code = _HOOK_PROBE.replace("IMPORTS", repr(imports))
    own: List[float] = []
    every: List[float] = []
    for index in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        if index:  # the first run wrote the bytecode the others read
            spent = json.loads(out.stdout.strip().splitlines()[-1])
            own.append(sum(spent.get(module, 0.0) for module in BY_NAME[row].modules))
            every.append(sum(spent.values()))
    return statistics.median(own), statistics.median(every)


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

        # the framework rows: the same traced request with them patched, then without
        from instana_serverless.instrumentation import instrument, uninstrument

        ENVIRON["PATH_INFO"] = "/users/42"
        django_run = traced_without_flush(make_django())
        ENVIRON["PATH_INFO"] = "/orders/42"
        fastapi_mw = ASGIMiddleware(make_fastapi(), flush=False)
        fastapi_drive = drive_asgi(fastapi_mw, loop)

        def fastapi_run() -> None:
            fastapi_drive()
            client.buffer.drain()

        def django_once() -> None:
            ENVIRON["PATH_INFO"] = "/users/42"
            try:
                django_run()
            finally:
                ENVIRON["PATH_INFO"] = "/orders/42"

        framework_rows = []
        for label, run, inner, per in (
            ("Flask", traced_without_flush(flask_app), 200, 1),
            ("Django", django_once, 200, 1),
            ("FastAPI", fastapi_run, 5, 50),
        ):
            # on and off alternate, so a change in the machine's load hits both sides
            on: List[float] = []
            off: List[float] = []
            for _ in range(int(os.environ.get("BENCH_FRAMEWORK_PAIRS", "9"))):
                instrument()
                on.append(timed(run, inner) / per)
                uninstrument()
                off.append(timed(run, inner) / per)
            instrument()
            added = statistics.median(a - b for a, b in zip(on, off))
            framework_rows.append(
                (
                    f"{label} + middleware: framework row on / off; added",
                    f"{statistics.median(on):.1f} / {statistics.median(off):.1f} us; "
                    f"{added:.1f} us",
                )
            )
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
            *framework_rows,
        ]
    from bench.outbound import import_cost_ms

    import_runs = int(os.environ.get("BENCH_IMPORT_RUNS", "7"))
    for row, names in (
        ("flask", ("flask",)),
        ("django", ("django.core.handlers.wsgi", "django.urls")),
        ("starlette", ("fastapi",)),
        ("aiohttp_server", ("aiohttp.web",)),
    ):
        with_ms, without_ms, _ = import_cost_ms(names, import_runs)
        own_ms, all_ms = hook_cost_ms(row, names, import_runs)
        rows.append(
            (
                f"import {', '.join(names)}: with us / without",
                f"{with_ms:.1f} / {without_ms:.1f} ms",
            )
        )
        rows.append(
            (
                f"  in our hooks: the {row} row / every row it triggers",
                f"{own_ms:.2f} / {all_ms:.2f} ms",
            )
        )
    print("instana-serverless middleware benchmark (medians per request)")
    print(table(rows))


if __name__ == "__main__":
    main()
