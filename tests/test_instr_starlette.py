"""FastAPI (on Starlette) on uvicorn behind our ASGI middleware (checks in
tests/web_support.py)."""

from __future__ import annotations

from instana_serverless.acceptor.server import Acceptor
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
