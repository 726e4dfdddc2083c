"""mysqlclient (``MySQLdb``) against the throwaway MariaDB server."""

from __future__ import annotations

from typing import Any

import MySQLdb
import MySQLdb.connections

from tests.scenarios import Scenario
from tests.servers import MariaDB


class Sync(Scenario):
    label = "mysqlclient"
    fixture = "mariadb_server"
    # MySQLdb imports its connections module on the first connect()
    imports = ("MySQLdb", "MySQLdb.connections")
    span_name = "mysql"
    error_path = ("mysql",)
    error = MySQLdb.ProgrammingError

    def call(self, target: MariaDB) -> Any:
        conn = MySQLdb.connect(**target.connect_kwargs())
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT %s + 1", (41,))
            return cursor.fetchone()[0]
        finally:
            conn.close()

    def failing_call(self, target: MariaDB) -> Any:
        conn = MySQLdb.connect(**target.connect_kwargs())
        try:
            conn.cursor().execute("SELECT * FROM no_such_table")
        finally:
            conn.close()


SCENARIOS = [Sync()]
