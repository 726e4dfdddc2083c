"""Flask on gunicorn behind our WSGI middleware: route templates, error messages, one entry per
request (the checks are in tests/web_support.py; the Lambda adapters in
tests/test_lambda_adapters.py)."""

from __future__ import annotations

from instana_serverless.acceptor.server import Acceptor
from tests.web_support import FLASK, check_server, executable


def gunicorn(target: str):  # type: ignore[no-untyped-def]
    return lambda port: [
        executable("gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "2",
        target,
    ]


def test_flask_on_gunicorn(acceptor: Acceptor) -> None:
    check_server(acceptor, gunicorn("tests.webapps.flask_app:traced()"), FLASK, "wsgi", "gunicorn")
