"""psycopg 3 exit spans (sync and async) against the throwaway PostgreSQL server.

Shared behaviour is in tests/test_instrumentation_contract.py; here: the data keys from a URL
and a keyword DSN, ``Connection.execute``, ``executemany``, composed statements and errors.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from psycopg import sql

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.instr_support import db_data, exits, in_entry, in_lambda, sent, traced
from tests.servers import Postgres

__all__ = ["traced"]


@pytest.mark.parametrize("form", ["url", "dsn"])
def test_sync_execute_in_a_lambda_handler(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres, form: str
) -> None:
    dsn = postgres_server.url if form == "url" else postgres_server.dsn

    def body() -> Any:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT %s::text || 'x'", ("bound-value-7",)).fetchone()
            assert row is not None
            return row[0]

    result, entry, (span,) = in_lambda(acceptor, body)
    assert result == "bound-value-7x"
    assert span["n"] == "postgres" and span["k"] == 2 and span["ec"] == 0
    assert span["p"] == entry["s"]
    assert span["data"] == db_data("pg", postgres_server, "SELECT %s::text || 'x'")
    assert "bound-value-7" not in sent(acceptor)
    assert postgres_server.password not in sent(acceptor)


def test_async_cursor_executemany_and_composed_sql(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    async def work() -> Any:
        async with (
            await psycopg.AsyncConnection.connect(postgres_server.url) as conn,
            conn.cursor() as cursor,
        ):
            await cursor.execute("CREATE TEMP TABLE items (n int)")
            await cursor.executemany("INSERT INTO items VALUES (%s)", [(1,), (2,)])
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("items"))
            await cursor.execute(query)
            row = await cursor.fetchone()
            assert row is not None
            return row[0]

    count, entry, spans = in_entry(acceptor, lambda: asyncio.run(work()), expected_spans=4)
    assert count == 2
    assert [s["data"]["pg"]["stmt"] for s in spans] == [
        "CREATE TEMP TABLE items (n int)",
        "INSERT INTO items VALUES (%s)",
        'SELECT count(*) FROM "items"',
    ]
    assert all(s["n"] == "postgres" and s["p"] == entry["s"] for s in spans)


def test_errors_set_ec_and_pg_error_and_reraise(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    def body() -> Any:
        with psycopg.connect(postgres_server.url) as conn:
            conn.execute("SELECT * FROM no_such_table")

    with pytest.raises(psycopg.errors.UndefinedTable):
        in_entry(acceptor, body)
    (span,) = exits(acceptor.wait_for_spans(2))
    assert span["ec"] == 1 and span["data"]["pg"]["error"].startswith("UndefinedTable: ")
