"""aiohttp's ``ClientSession`` against the loopback HTTP service."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Optional

import aiohttp

from tests.conftest import free_port
from tests.http_service import Downstream
from tests.scenarios import Scenario
from tests.scenarios.urllib3 import CONTEXT


class Session(Scenario):
    label = "aiohttp"
    fixture = "downstream"
    imports = ("aiohttp",)
    span_name = "aiohttp-client"
    error_path = ("http",)
    error = aiohttp.ClientConnectorError

    def call(self, target: Downstream) -> Any:
        async def get() -> int:
            url = f"{target.url}/contract?page=1"
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                await response.read()
                return response.status

        return asyncio.run(get())

    def failing_call(self, target: Downstream) -> Any:
        async def get() -> Any:
            async with aiohttp.ClientSession() as session:
                return await session.get(f"http://127.0.0.1:{free_port()}/down")

        return asyncio.run(get())

    def sent_context(self, target: Downstream) -> Optional[Mapping[str, str]]:
        headers = target.requests[-1]["headers"]
        return {k: v for k, v in headers.items() if k in CONTEXT}


SCENARIOS = [Session()]
