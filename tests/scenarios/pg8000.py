"""pg8000 (``pg8000.connect``, its legacy API) against the throwaway PostgreSQL server."""

from __future__ import annotations

from typing import Any

import pg8000

from tests.scenarios import Scenario
from tests.servers import Postgres


def connect(target: Postgres) -> Any:
    return pg8000.connect(
        user=target.user,
        password=target.password,
        host=target.host,
        port=target.port,
        database=target.dbname,
    )


class Sync(Scenario):
    label = "pg8000"
    fixture = "postgres_server"
    imports = ("pg8000",)
    span_name = "postgres"
    error_path = ("pg",)
    error = pg8000.DatabaseError

    def call(self, target: Postgres) -> Any:
        conn = connect(target)
        try:
            cursor = conn.cursor()
            cursor.execute("SELECT %s + 1", (41,))
            return cursor.fetchone()[0]
        finally:
            conn.close()

    def failing_call(self, target: Postgres) -> Any:
        conn = connect(target)
        try:
            conn.cursor().execute("SELECT * FROM no_such_table")
        finally:
            conn.close()


SCENARIOS = [Sync()]
