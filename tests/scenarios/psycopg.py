"""psycopg 3, sync and async, against the throwaway PostgreSQL server."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from tests.scenarios import Scenario
from tests.servers import Postgres


class Sync(Scenario):
    label = "psycopg-sync"
    fixture = "postgres_server"
    imports = ("psycopg",)
    span_name = "postgres"
    error_path = ("pg",)
    error = psycopg.errors.UndefinedTable

    def call(self, target: Postgres) -> Any:
        with psycopg.connect(target.url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT %s + 1", (41,))
            row = cursor.fetchone()
            assert row is not None
            return row[0]

    def failing_call(self, target: Postgres) -> Any:
        with psycopg.connect(target.url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")


class Async(Sync):
    label = "psycopg-async"

    def call(self, target: Postgres) -> Any:
        async def query() -> Any:
            async with (
                await psycopg.AsyncConnection.connect(target.url) as conn,
                conn.cursor() as cursor,
            ):
                await cursor.execute("SELECT %s + 1", (41,))
                row = await cursor.fetchone()
                assert row is not None
                return row[0]

        return asyncio.run(query())

    def failing_call(self, target: Postgres) -> Any:
        async def query() -> Any:
            async with (
                await psycopg.AsyncConnection.connect(target.url) as conn,
                conn.cursor() as cursor,
            ):
                await cursor.execute("SELECT * FROM no_such_table")

        return asyncio.run(query())


SCENARIOS = [Sync(), Async()]
