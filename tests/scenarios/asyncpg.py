"""asyncpg against the throwaway PostgreSQL server."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from tests.scenarios import Scenario
from tests.servers import Postgres


class Async(Scenario):
    label = "asyncpg"
    fixture = "postgres_server"
    imports = ("asyncpg",)
    span_name = "postgres"
    error_path = ("pg",)
    error = asyncpg.exceptions.UndefinedTableError

    def call(self, target: Postgres) -> Any:
        async def query() -> Any:
            conn = await asyncpg.connect(target.url)
            try:
                return await conn.fetchval("SELECT $1::int + 1", 41)
            finally:
                await conn.close()

        return asyncio.run(query())

    def failing_call(self, target: Postgres) -> Any:
        async def query() -> Any:
            conn = await asyncpg.connect(target.url)
            try:
                return await conn.fetch("SELECT * FROM no_such_table")
            finally:
                await conn.close()

        return asyncio.run(query())


SCENARIOS = [Async()]
