"""Rows of bench/outbound.py for the database drivers and SQLAlchemy, against throwaway
PostgreSQL and MariaDB servers (demo/servers.py). Each row's call is one ``SELECT 1`` on a
connection made once, as a warm function keeps it; the tight loop gives the patched callable
a real cursor/connection and the statement.

A server that is not installed leaves its rows out (with a note), as the demo does.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable, List

from demo import servers

SELECT = "SELECT 1"


def rows(
    row: Callable[..., Any], in_entry: Callable[[Callable[[], object]], Callable[[], None]],
    rounds: int, stack: contextlib.ExitStack,
) -> List[Any]:  # fmt: skip
    """``row(label, call, work, rounds, imports=...)`` per driver (bench/outbound.py's Row)."""
    made: List[Any] = []
    try:
        postgres = servers.start_postgres()
        stack.callback(postgres.stop)
    except servers.ServerMissing as missing:
        print(f"PostgreSQL rows left out: {missing}")
    else:
        made += _postgres_rows(row, in_entry, rounds, stack, postgres)
    try:
        mariadb = servers.start_mariadb()
        stack.callback(mariadb.stop)
    except servers.ServerMissing as missing:
        print(f"MySQL rows left out: {missing}")
    else:
        made += _mysql_rows(row, in_entry, rounds, stack, mariadb)
    return made


def _postgres_rows(
    row: Callable[..., Any], in_entry: Callable[[Callable[[], object]], Callable[[], None]],
    rounds: int, stack: contextlib.ExitStack, server: servers.Postgres,
) -> List[Any]:  # fmt: skip
    import asyncpg
    import pg8000
    import psycopg
    import psycopg2
    import sqlalchemy

    from instana_serverless.instrumentation import instrument

    instrument()  # psycopg2 and SQLAlchemy's pools trace connections made while patched
    pg2 = psycopg2.connect(server.dsn)
    stack.callback(pg2.close)
    pg2_cursor = pg2.cursor()
    pg3 = psycopg.connect(server.url, autocommit=True)
    stack.callback(pg3.close)
    pg3_cursor = pg3.cursor()
    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    apg = loop.run_until_complete(asyncpg.connect(server.url))
    stack.callback(lambda: loop.run_until_complete(apg.close()))
    p8 = pg8000.connect(
        user=server.user,
        password=server.password,
        host=server.host,
        port=server.port,
        database=server.dbname,
    )
    stack.callback(p8.close)
    p8_cursor = p8.cursor()
    engine = sqlalchemy.create_engine(server.sqlalchemy_url)
    stack.callback(engine.dispose)
    sa_conn = engine.connect()
    stack.callback(sa_conn.close)
    text = sqlalchemy.text(SELECT)
    raw_cursor = sa_conn.connection.cursor()

    def psycopg2_call() -> None:
        pg2_cursor.execute(SELECT)
        pg2_cursor.fetchall()

    def psycopg_call() -> None:
        pg3_cursor.execute(SELECT)
        pg3_cursor.fetchall()

    def pg8000_call() -> None:
        p8_cursor.execute(SELECT)
        p8_cursor.fetchall()

    return [
        row(
            "psycopg2 cursor.execute",
            in_entry(psycopg2_call),
            ("psycopg2", "psycopg2", 0, lambda: (pg2_cursor, SELECT), None),
            rounds,
            imports=("psycopg2",),
        ),
        row(
            "psycopg Cursor.execute",
            in_entry(psycopg_call),
            ("psycopg", "psycopg.cursor", 0, lambda: (pg3_cursor, SELECT), pg3_cursor),
            rounds,
            imports=("psycopg",),
        ),
        row(
            "asyncpg Connection.fetchval",
            in_entry(lambda: loop.run_until_complete(apg.fetchval(SELECT))),
            ("asyncpg", "asyncpg.connection", 4, lambda: (apg, SELECT), 1),
            rounds,
            imports=("asyncpg",),
        ),
        row(
            "pg8000 cursor.execute",
            in_entry(pg8000_call),
            ("pg8000", "pg8000.legacy", 0, lambda: (p8_cursor, SELECT), None),
            rounds,
            imports=("pg8000",),
        ),
        row(
            "SQLAlchemy (psycopg2) execute",
            in_entry(lambda: sa_conn.execute(text).scalar()),
            ("sqlalchemy", "sqlalchemy.engine", 0, lambda: (sa_conn, raw_cursor, SELECT), None),
            rounds,
            imports=("sqlalchemy",),
        ),
    ]


def _mysql_rows(
    row: Callable[..., Any], in_entry: Callable[[Callable[[], object]], Callable[[], None]],
    rounds: int, stack: contextlib.ExitStack, server: servers.MariaDB,
) -> List[Any]:  # fmt: skip
    import MySQLdb
    import pymysql

    py = pymysql.connect(**server.connect_kwargs())
    stack.callback(py.close)
    py_cursor = py.cursor()
    my = MySQLdb.connect(**server.connect_kwargs())
    stack.callback(my.close)
    my_cursor = my.cursor()

    def pymysql_call() -> None:
        py_cursor.execute(SELECT)
        py_cursor.fetchall()

    def mysqlclient_call() -> None:
        my_cursor.execute(SELECT)
        my_cursor.fetchall()

    return [
        row(
            "pymysql cursor.execute",
            in_entry(pymysql_call),
            ("pymysql", "pymysql.cursors", 0, lambda: (py_cursor, SELECT), 1),
            rounds,
            imports=("pymysql",),
        ),
        row(
            "mysqlclient cursor.execute",
            in_entry(mysqlclient_call),
            ("mysqlclient", "MySQLdb.cursors", 0, lambda: (my_cursor, SELECT), 1),
            rounds,
            imports=("MySQLdb",),
        ),
    ]
