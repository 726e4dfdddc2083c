"""httpx, sync ``Client`` and async ``AsyncClient``, against the loopback HTTP service."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Optional

import httpx

from tests.conftest import free_port
from tests.http_service import Downstream
from tests.scenarios import Scenario
from tests.scenarios.urllib3 import CONTEXT


class Sync(Scenario):
    label = "httpx-sync"
    fixture = "downstream"
    imports = ("httpx",)
    span_name = "http"
    error_path = ("http",)
    error = httpx.ConnectError

    def call(self, target: Downstream) -> Any:
        with httpx.Client() as client:
            return client.get(f"{target.url}/contract?page=1").status_code

    def failing_call(self, target: Downstream) -> Any:
        with httpx.Client() as client:
            return client.get(f"http://127.0.0.1:{free_port()}/down")

    def sent_context(self, target: Downstream) -> Optional[Mapping[str, str]]:
        headers = target.requests[-1]["headers"]
        return {k: v for k, v in headers.items() if k in CONTEXT}


class Async(Sync):
    label = "httpx-async"

    def call(self, target: Downstream) -> Any:
        async def get() -> int:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{target.url}/contract?page=1")).status_code

        return asyncio.run(get())

    def failing_call(self, target: Downstream) -> Any:
        async def get() -> Any:
            async with httpx.AsyncClient() as client:
                return await client.get(f"http://127.0.0.1:{free_port()}/down")

        return asyncio.run(get())


SCENARIOS = [Sync(), Async()]
