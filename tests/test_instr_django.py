"""Django on gunicorn behind our WSGI middleware (checks in tests/web_support.py)."""

from __future__ import annotations

from instana_serverless.acceptor.server import Acceptor
from tests.test_instr_flask import gunicorn
from tests.web_support import DJANGO, check_server


def test_django_on_gunicorn(acceptor: Acceptor) -> None:
    check_server(
        acceptor, gunicorn("tests.webapps.django_app:traced()"), DJANGO, "wsgi", "gunicorn"
    )
