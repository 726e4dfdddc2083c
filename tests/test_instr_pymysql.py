"""PyMySQL exit spans against the throwaway MariaDB server: data keys, executemany, callproc,
errors. Shared behaviour: tests/test_instrumentation_contract.py."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.instr_support import db_data, exits, in_entry, in_lambda, sent, traced
from tests.servers import MariaDB

__all__ = ["traced"]


def test_execute_in_a_lambda_handler_is_a_mysql_exit(
    traced: Client, acceptor: Acceptor, mariadb_server: MariaDB
) -> None:
    def body() -> Any:
        conn = pymysql.connect(**mariadb_server.connect_kwargs())
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT CONCAT(%s, 'x')", ("bound-value-7",))
                return cursor.fetchone()[0]
        finally:
            conn.close()

    result, entry, (span,) = in_lambda(acceptor, body)
    assert result == "bound-value-7x"
    assert span["n"] == "mysql" and span["k"] == 2 and span["ec"] == 0
    assert span["p"] == entry["s"]
    assert span["data"] == db_data("mysql", mariadb_server, "SELECT CONCAT(%s, 'x')")
    assert "bound-value-7" not in sent(acceptor)
    assert mariadb_server.password not in sent(acceptor)


def test_executemany_and_callproc_are_one_span_each(
    traced: Client, acceptor: Acceptor, mariadb_server: MariaDB
) -> None:
    conn = pymysql.connect(**mariadb_server.connect_kwargs())
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE items (n int)")
            cursor.execute("DROP PROCEDURE IF EXISTS answer")
            cursor.execute("CREATE PROCEDURE answer() SELECT 42")

        def body() -> Any:
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO items VALUES (%s)", [(1,), (2,), (3,)])
                cursor.callproc("answer")
                return cursor.fetchone()[0]

        answer, entry, spans = in_entry(acceptor, body, expected_spans=3)
    finally:
        conn.close()
    assert answer == 42
    assert [s["data"]["mysql"]["stmt"] for s in spans] == [
        "INSERT INTO items VALUES (%s)",
        "answer",
    ]
    assert all(s["n"] == "mysql" and s["p"] == entry["s"] for s in spans)


def test_errors_set_ec_and_mysql_error_and_reraise(
    traced: Client, acceptor: Acceptor, mariadb_server: MariaDB
) -> None:
    def body() -> Any:
        conn = pymysql.connect(**mariadb_server.connect_kwargs())
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        finally:
            conn.close()

    with pytest.raises(pymysql.err.ProgrammingError):
        in_entry(acceptor, body)
    (span,) = exits(acceptor.wait_for_spans(2))
    assert span["ec"] == 1 and span["data"]["mysql"]["error"].startswith("ProgrammingError: ")
