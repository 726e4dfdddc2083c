"""aiohttp's web server under its own runner: the aiohttp_server row opens the entry, the route
template and errors (checks in tests/web_support.py)."""

from __future__ import annotations

import sys

from instana_serverless.acceptor.server import Acceptor
from tests.web_support import AIOHTTP, check_server


def test_aiohttp_under_its_runner(acceptor: Acceptor) -> None:
    check_server(
        acceptor,
        lambda port: [sys.executable, "-m", "tests.webapps.aiohttp_app", str(port)],
        AIOHTTP,
        "aiohttp-server",
        "aiohttp",
    )
