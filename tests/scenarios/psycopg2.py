"""psycopg2 against the throwaway PostgreSQL server (a new connection per call, as a cold
function makes it)."""

from __future__ import annotations

from typing import Any

import psycopg2

from tests.scenarios import Scenario
from tests.servers import Postgres


class Sync(Scenario):
    label = "psycopg2"
    fixture = "postgres_server"
    imports = ("psycopg2",)
    span_name = "postgres"
    error_path = ("pg",)
    error = psycopg2.ProgrammingError

    def call(self, target: Postgres) -> Any:
        with psycopg2.connect(target.dsn) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT %s + 1", (41,))
            result = cursor.fetchone()[0]
        conn.close()
        return result

    def failing_call(self, target: Postgres) -> Any:
        conn = psycopg2.connect(target.dsn)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT * FROM no_such_table")
        finally:
            conn.close()


SCENARIOS = [Sync()]
