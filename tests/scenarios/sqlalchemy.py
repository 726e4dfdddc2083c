"""SQLAlchemy engines over psycopg2 (PostgreSQL) and PyMySQL (MariaDB), real servers.

An engine is made and first connected outside any trace (the dialect's own first-connect
queries are the driver's spans, not the scenario's), then reused as a function reuses it."""

from __future__ import annotations

from typing import Any, Dict

import sqlalchemy

from instana_serverless.tracer import activate, restore
from tests.scenarios import Scenario

_engines: Dict[str, Any] = {}


def engine_for(url: str) -> Any:
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = sqlalchemy.create_engine(url)
        outside = activate(None)  # as at a function's init, before any invocation
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT 1"))
        finally:
            restore(outside)
    return engine


class Postgres(Scenario):
    label = "sqlalchemy-psycopg2"
    fixture = "postgres_server"
    imports = ("sqlalchemy",)
    span_name = "sqlalchemy"
    error_path = ("sqlalchemy",)
    error_key = "err"
    error = sqlalchemy.exc.ProgrammingError

    def call(self, target: Any) -> Any:
        with engine_for(target.sqlalchemy_url).connect() as conn:
            return conn.execute(sqlalchemy.text("SELECT 41 + :n"), {"n": 1}).scalar()

    def failing_call(self, target: Any) -> Any:
        with engine_for(target.sqlalchemy_url).connect() as conn:
            conn.execute(sqlalchemy.text("SELECT * FROM no_such_table"))


class MySQL(Postgres):
    label = "sqlalchemy-pymysql"
    fixture = "mariadb_server"


SCENARIOS = [Postgres(), MySQL()]
