"""PyMySQL against the throwaway MariaDB server."""

from __future__ import annotations

from typing import Any

import pymysql

from tests.scenarios import Scenario
from tests.servers import MariaDB


class Sync(Scenario):
    label = "pymysql"
    fixture = "mariadb_server"
    imports = ("pymysql",)
    span_name = "mysql"
    error_path = ("mysql",)
    error = pymysql.err.ProgrammingError

    def call(self, target: MariaDB) -> Any:
        conn = pymysql.connect(**target.connect_kwargs())
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT %s + 1", (41,))
                return cursor.fetchone()[0]
        finally:
            conn.close()

    def failing_call(self, target: MariaDB) -> Any:
        conn = pymysql.connect(**target.connect_kwargs())
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        finally:
            conn.close()


SCENARIOS = [Sync()]
