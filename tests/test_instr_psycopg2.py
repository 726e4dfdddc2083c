"""psycopg2 exit spans against the throwaway PostgreSQL server.

What every entry shares is in tests/test_instrumentation_contract.py; here: psycopg2's data
keys, DSN and URL connections, executemany/callproc, cursor and connection factories, and
connections made while instrumented going quiet after ``uninstrument()``.
"""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.extras
import pytest

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import uninstrument
from tests.instr_support import db_data, exits, in_entry, in_lambda, sent, traced
from tests.servers import Postgres

__all__ = ["traced"]


@pytest.mark.parametrize("form", ["dsn", "url", "keywords"])
def test_execute_in_a_lambda_handler_is_a_postgres_exit(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres, form: str
) -> None:
    server = postgres_server

    def connect() -> Any:
        if form == "dsn":
            return psycopg2.connect(server.dsn)
        if form == "url":
            return psycopg2.connect(server.url)
        return psycopg2.connect(
            host=server.host,
            port=server.port,
            dbname=server.dbname,
            user=server.user,
            password=server.password,
        )

    def body() -> Any:
        conn = connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT %s::text || 'x'", ("bound-value-7",))
                return cursor.fetchone()[0]
        finally:
            conn.close()

    result, entry, (span,) = in_lambda(acceptor, body)
    assert result == "bound-value-7x"
    assert span["n"] == "postgres" and span["k"] == 2 and span["ec"] == 0
    assert span["p"] == entry["s"] and span["t"] == entry["t"]
    assert span["data"] == db_data("pg", server, "SELECT %s::text || 'x'")
    assert "bound-value-7" not in sent(acceptor)
    assert server.password not in sent(acceptor)


def test_executemany_and_callproc_are_one_span_each(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    conn = psycopg2.connect(postgres_server.dsn)

    def body() -> Any:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE items (n int)")
            cursor.executemany("INSERT INTO items VALUES (%s)", [(1,), (2,), (3,)])
            cursor.callproc("pg_backend_pid")
            return cursor.fetchone()[0]

    try:
        pid, entry, spans = in_entry(acceptor, body, expected_spans=4)
    finally:
        conn.close()
    assert isinstance(pid, int)
    assert [s["data"]["pg"]["stmt"] for s in spans] == [
        "CREATE TEMP TABLE items (n int)",
        "INSERT INTO items VALUES (%s)",
        "pg_backend_pid",
    ]
    assert all(s["p"] == entry["s"] and s["n"] == "postgres" for s in spans)


@pytest.mark.parametrize("where", ["connect", "cursor", "connection_factory"])
def test_cursor_and_connection_factories_keep_their_rows(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres, where: str
) -> None:
    if where == "connect":
        conn = psycopg2.connect(postgres_server.dsn, cursor_factory=psycopg2.extras.RealDictCursor)
    elif where == "connection_factory":
        conn = psycopg2.connect(
            postgres_server.dsn, connection_factory=psycopg2.extras.DictConnection
        )
        assert isinstance(conn, psycopg2.extras.DictConnection)
    else:
        conn = psycopg2.connect(postgres_server.dsn)

    def body() -> Any:
        extra = {"cursor_factory": psycopg2.extras.RealDictCursor} if where == "cursor" else {}
        with conn.cursor(**extra) as cursor:
            cursor.execute("SELECT 1 AS one")
            return cursor.fetchone()

    try:
        row, _entry, (span,) = in_entry(acceptor, body)
    finally:
        conn.close()
    assert row["one"] == 1  # the factory's rows, traced
    assert span["n"] == "postgres" and span["data"]["pg"]["stmt"] == "SELECT 1 AS one"


def test_errors_set_ec_and_pg_error_and_reraise(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    conn = psycopg2.connect(postgres_server.dsn)

    def body() -> Any:
        with conn.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    try:
        with pytest.raises(psycopg2.errors.UndefinedTable):
            in_entry(acceptor, body)
        (span,) = exits(acceptor.wait_for_spans(2))
    finally:
        conn.close()
    assert span["ec"] == 1
    assert span["data"]["pg"]["error"].startswith("UndefinedTable: relation")


def test_a_connection_made_while_traced_goes_quiet_after_uninstrument(
    traced: Client, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    conn = psycopg2.connect(postgres_server.dsn)
    uninstrument()
    try:

        def body() -> Any:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
                return cursor.fetchone()[0]

        assert in_entry(acceptor, body, expected_spans=1)[2] == []
    finally:
        conn.close()


def test_the_doctor_reads_the_version_of_psycopg2_binary() -> None:
    from importlib import metadata

    from instana_serverless import doctor
    from instana_serverless.instrumentation.registry import BY_NAME

    installed = metadata.version("psycopg2-binary")  # what the dev extras install
    assert doctor._installed_version(BY_NAME["psycopg2"]) == (True, installed)
