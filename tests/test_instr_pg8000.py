"""pg8000 exit spans (legacy, DB-API and native APIs) against the throwaway PostgreSQL server.
Shared behaviour: tests/test_instrumentation_contract.py."""

from __future__ import annotations

from typing import Any

import pg8000
import pg8000.dbapi
import pg8000.native
import pytest

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.instr_support import db_data, exits, in_entry, in_lambda, sent, traced
from tests.servers import Postgres

__all__ = ["traced"]


def kwargs(server: Postgres) -> Any:
    return {
        "user": server.user,
        "password": server.password,
        "host": server.host,
        "port": server.port,
        "database": server.dbname,
    }


@pytest.mark.parametrize("api", ["legacy", "dbapi", "native"])
def test_each_api_in_a_lambda_handler_is_a_postgres_exit(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres, api: str
) -> None:
    def body() -> Any:
        if api == "native":
            conn = pg8000.native.Connection(**kwargs(postgres_server))
            try:
                return conn.run("SELECT :v || 'x'", v="bound-value-7")[0][0], ""
            finally:
                conn.close()
        connect = pg8000.connect if api == "legacy" else pg8000.dbapi.connect
        conn = connect(**kwargs(postgres_server))
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT %s || 'x'", ("bound-value-7",))
            return cursor.fetchone()[0], ""
        finally:
            conn.close()

    (result, _), entry, (span,) = in_lambda(acceptor, body)
    assert result == "bound-value-7x"
    assert span["n"] == "postgres" and span["k"] == 2 and span["p"] == entry["s"]
    stmt = "SELECT :v || 'x'" if api == "native" else "SELECT %s || 'x'"
    assert span["data"] == db_data("pg", postgres_server, stmt)
    assert "bound-value-7" not in sent(acceptor)
    assert postgres_server.password not in sent(acceptor)


def test_executemany_is_one_span_and_errors_are_recorded(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    conn = pg8000.connect(**kwargs(postgres_server))

    def body() -> Any:
        cursor = conn.cursor()
        cursor.execute("CREATE TEMP TABLE items (n int)")
        cursor.executemany("INSERT INTO items VALUES (%s)", [(1,), (2,), (3,)])
        cursor.execute("SELECT * FROM no_such_table")

    try:
        with pytest.raises(pg8000.DatabaseError):
            in_entry(acceptor, body)
        spans = exits(acceptor.wait_for_spans(4))
    finally:
        conn.close()
    assert [s["data"]["pg"]["stmt"] for s in spans] == [
        "CREATE TEMP TABLE items (n int)",
        "INSERT INTO items VALUES (%s)",
        "SELECT * FROM no_such_table",
    ]
    assert [s["ec"] for s in spans] == [0, 0, 1]
    assert spans[2]["data"]["pg"]["error"].startswith("ProgrammingError: ")
