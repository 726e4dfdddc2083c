"""The service in aiohttp, served by aiohttp's own runner (``python -m tests.webapps.aiohttp_app
PORT``); the aiohttp_server row opens each request's entry (an aiohttp app takes no WSGI/ASGI
middleware), once ``instrument()`` ran (here: the explicit call users make at start-up)."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from instana_serverless.instrumentation import instrument
from tests.webapps import BROKEN, downstream


async def user(request: web.Request) -> web.Response:
    # a worker thread with this task's context: the exit joins the request's trace
    await asyncio.to_thread(downstream)
    return web.json_response({"id": int(request.match_info["user_id"])})


async def boom(request: web.Request) -> web.Response:
    raise ValueError(BROKEN)


async def down(request: web.Request) -> web.Response:
    raise web.HTTPServiceUnavailable(text="db down")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/users/{user_id}", user)
    app.router.add_get("/boom", boom)
    app.router.add_get("/down", down)
    return app


async def main(port: int) -> None:
    instrument()
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
