"""asyncpg exit spans against the throwaway PostgreSQL server: connection methods, pools,
data keys from a URL connection, errors. Shared behaviour: tests/test_instrumentation_contract.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.instr_support import exits, in_entry, in_lambda, sent, traced
from tests.servers import Postgres

__all__ = ["traced"]


def test_connection_methods_in_a_lambda_handler(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    async def work() -> Any:
        conn = await asyncpg.connect(postgres_server.url)
        try:
            await conn.execute("CREATE TEMP TABLE items (n int)")
            await conn.executemany("INSERT INTO items VALUES ($1)", [(1,), (2,)])
            rows = await conn.fetch("SELECT n FROM items WHERE n > $1", 0)
            row = await conn.fetchrow("SELECT $1::text AS secret", "bound-value-7")
            total = await conn.fetchval("SELECT sum(n) FROM items")
            return len(rows), row["secret"], total
        finally:
            await conn.close()

    result, entry, spans = in_lambda(acceptor, lambda: asyncio.run(work()), expected_spans=6)
    assert result == (2, "bound-value-7", 2 + 1)
    assert [s["data"]["pg"]["stmt"] for s in spans] == [
        "CREATE TEMP TABLE items (n int)",
        "INSERT INTO items VALUES ($1)",
        "SELECT n FROM items WHERE n > $1",
        "SELECT $1::text AS secret",
        "SELECT sum(n) FROM items",
    ]
    for span in spans:
        assert span["n"] == "postgres" and span["k"] == 2 and span["p"] == entry["s"]
        pg = dict(span["data"]["pg"])
        pg.pop("stmt")
        assert pg == {
            "host": postgres_server.host,
            "port": postgres_server.port,
            "db": postgres_server.dbname,
            "user": postgres_server.user,
        }
    assert "bound-value-7" not in sent(acceptor)
    assert postgres_server.password not in sent(acceptor)


def test_pool_calls_are_one_span_each(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    async def work() -> Any:
        async with asyncpg.create_pool(postgres_server.url, min_size=1, max_size=1) as pool:
            first = await pool.fetchval("SELECT 1")
            async with pool.acquire() as conn:
                second = await conn.fetchval("SELECT 2")
            return first, second

    result, entry, spans = in_entry(acceptor, lambda: asyncio.run(work()), expected_spans=3)
    assert result == (1, 2)
    assert [s["data"]["pg"]["stmt"] for s in spans] == ["SELECT 1", "SELECT 2"]
    assert all(s["p"] == entry["s"] for s in spans)


def test_errors_set_ec_and_pg_error_and_reraise(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    async def work() -> Any:
        conn = await asyncpg.connect(postgres_server.url)
        try:
            await conn.fetch("SELECT * FROM no_such_table")
        finally:
            await conn.close()

    with pytest.raises(asyncpg.exceptions.UndefinedTableError):
        in_entry(acceptor, lambda: asyncio.run(work()))
    (span,) = exits(acceptor.wait_for_spans(2))
    assert span["ec"] == 1 and span["data"]["pg"]["error"].startswith("UndefinedTableError: ")
