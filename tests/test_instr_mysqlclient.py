"""mysqlclient (``MySQLdb``) exit spans against the throwaway MariaDB server.
Shared behaviour: tests/test_instrumentation_contract.py."""

from __future__ import annotations

from typing import Any

import MySQLdb
import MySQLdb.cursors
import pytest

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests.instr_support import db_data, exits, in_entry, in_lambda, sent, traced
from tests.servers import MariaDB

__all__ = ["traced"]


@pytest.mark.parametrize("cursor_class", ["Cursor", "DictCursor"])
def test_execute_in_a_lambda_handler_is_a_mysql_exit(
    traced: Client, acceptor: Acceptor, mariadb_server: MariaDB, cursor_class: str
) -> None:
    def body() -> Any:
        conn = MySQLdb.connect(
            **mariadb_server.connect_kwargs(),
            cursorclass=getattr(MySQLdb.cursors, cursor_class),
        )
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT CONCAT(%s, 'x') AS v", ("bound-value-7",))
            row = cursor.fetchone()
            return row["v"] if isinstance(row, dict) else row[0]
        finally:
            conn.close()

    result, entry, (span,) = in_lambda(acceptor, body)
    assert result == "bound-value-7x"
    assert span["n"] == "mysql" and span["k"] == 2 and span["p"] == entry["s"]
    assert span["data"] == db_data("mysql", mariadb_server, "SELECT CONCAT(%s, 'x') AS v")
    assert "bound-value-7" not in sent(acceptor)
    assert mariadb_server.password not in sent(acceptor)


def test_executemany_callproc_and_errors(
    traced: Client, acceptor: Acceptor, mariadb_server: MariaDB
) -> None:
    conn = MySQLdb.connect(**mariadb_server.connect_kwargs())
    setup = conn.cursor()
    setup.execute("CREATE TEMPORARY TABLE items (n int)")
    setup.execute("DROP PROCEDURE IF EXISTS answer")
    setup.execute("CREATE PROCEDURE answer() SELECT 42")
    setup.close()

    def body() -> Any:
        cursor = conn.cursor()
        cursor.executemany("INSERT INTO items VALUES (%s)", [(1,), (2,), (3,)])
        cursor.callproc("answer")
        cursor.fetchall()
        cursor.nextset()
        cursor.execute("SELECT * FROM no_such_table")

    try:
        with pytest.raises(MySQLdb.ProgrammingError):
            in_entry(acceptor, body)
        spans = exits(acceptor.wait_for_spans(4))
    finally:
        conn.close()
    assert [s["data"]["mysql"]["stmt"] for s in spans] == [
        "INSERT INTO items VALUES (%s)",
        "answer",
        "SELECT * FROM no_such_table",
    ]
    assert [s["ec"] for s in spans] == [0, 0, 1]
    assert spans[2]["data"]["mysql"]["error"].startswith("ProgrammingError: ")
