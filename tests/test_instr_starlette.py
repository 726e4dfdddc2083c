"""FastAPI (on Starlette) on uvicorn behind our ASGI middleware (checks in
tests/web_support.py)."""

from __future__ import annotations

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.web_support import FASTAPI, check_server, executable


def test_fastapi_on_uvicorn(acceptor: Acceptor) -> None:
    check_server(
        acceptor,
        lambda port: [
            executable("uvicorn"),
            "--factory",
            "tests.webapps.fastapi_app:traced",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        FASTAPI,
        "asgi",
        "uvicorn",
    )


def test_http_exception_detail_and_uninstrument(client: Client, acceptor: Acceptor) -> None:
    from fastapi import FastAPI, HTTPException

    import instana_serverless as instana
    from instana_serverless.instrumentation import instrument, uninstrument
    from tests.scenarios._web import call_asgi

    instrument()
    try:
        app = FastAPI()

        @app.get("/down")
        async def down() -> None:
            raise HTTPException(503, "db down")

        with instana.entry_span("job"):
            assert call_asgi(app, "/down")[0] == 503  # the app's handlers are built here
        uninstrument()
        with instana.entry_span("job"):
            assert call_asgi(app, "/down")[0] == 503  # the same handlers, now quiet
        client.flush()
        first, second = acceptor.spans()
        assert first["ec"] == 1 and first["data"]["http"]["error"] == "db down"
        assert second["ec"] == 0 and "http" not in second["data"]
    finally:
        uninstrument()


def test_route_inside_a_mount_keeps_the_mount_path(client: Client, acceptor: Acceptor) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    import instana_serverless as instana
    from instana_serverless.instrumentation import instrument, uninstrument
    from tests.scenarios._web import call_asgi
    from tests.webapps import fastapi_app

    instrument()
    try:
        outer = Starlette(routes=[Mount("/api", app=fastapi_app.app)])
        with instana.entry_span("job"):
            assert call_asgi(outer, "/api/users/42")[0] == 200
        client.flush()
        (span,) = acceptor.spans()
        assert span["data"]["http"]["path_tpl"] == "/api/users/{user_id}"
    finally:
        uninstrument()
