"""redis-py, sync and asyncio clients, against a real redis-server on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio

from tests.scenarios import Scenario
from tests.servers import Redis


class Sync(Scenario):
    label = "redis-sync"
    fixture = "redis_server"
    imports = ("redis",)
    span_name = "redis"
    error_path = ("redis",)
    error = redis.exceptions.ResponseError

    def call(self, target: Redis) -> Any:
        client = redis.Redis(host=target.host, port=target.port)
        try:
            return client.set("contract", "1")
        finally:
            client.close()

    def failing_call(self, target: Redis) -> Any:
        client = redis.Redis(host=target.host, port=target.port)
        try:
            return client.execute_command("NO-SUCH-COMMAND")
        finally:
            client.close()


class Async(Sync):
    label = "redis-asyncio"
    imports = ("redis.asyncio",)

    def call(self, target: Redis) -> Any:
        async def run() -> Any:
            client = redis.asyncio.Redis(host=target.host, port=target.port)
            try:
                return await client.set("contract", "1")
            finally:
                await client.aclose()

        return asyncio.run(run())

    def failing_call(self, target: Redis) -> Any:
        async def run() -> Any:
            client = redis.asyncio.Redis(host=target.host, port=target.port)
            try:
                return await client.execute_command("NO-SUCH-COMMAND")
            finally:
                await client.aclose()

        return asyncio.run(run())


SCENARIOS = [Sync(), Async()]
