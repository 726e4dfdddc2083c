"""aiohttp's server on its test server in-process (the real runner:
tests/test_instr_aiohttp_server.py)."""

from __future__ import annotations

import asyncio
import http.client

from aiohttp.test_utils import TestServer

from tests.scenarios._web import Served, WebScenario
from tests.webapps import aiohttp_app


def _get(port: int, path: str) -> Served:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class AiohttpApp(WebScenario):
    imports = ("aiohttp.web",)
    path_tpl = "/users/{user_id}"
    opens_entry = "aiohttp-server"

    def serve(self, path: str) -> Served:
        async def run() -> Served:
            async with TestServer(aiohttp_app.make_app(), host="127.0.0.1") as server:
                port = server.port
                assert port is not None
                return await asyncio.to_thread(_get, port, path)

        return asyncio.run(run())


SCENARIOS = [AiohttpApp()]
