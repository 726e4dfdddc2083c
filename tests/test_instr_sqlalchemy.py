"""SQLAlchemy exit spans over psycopg2 (PostgreSQL) and PyMySQL (MariaDB), real servers.

The sqlalchemy span covers the driver's: one span per statement, never a postgres/mysql span
inside it. Shared behaviour: tests/test_instrumentation_contract.py.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest
import sqlalchemy

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, patched, uninstrument
from instana_serverless.tracer import activate, restore
from tests.instr_support import exits, in_entry, in_lambda, sent, traced

__all__ = ["traced"]

SERVERS = {"postgresql+psycopg2": "postgres_server", "mysql+pymysql": "mariadb_server"}


@pytest.fixture(params=sorted(SERVERS))
def server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(SERVERS[request.param])


@pytest.fixture
def engine(traced: Client, server: Any) -> Iterator[Any]:
    engine = sqlalchemy.create_engine(server.sqlalchemy_url)
    outside = activate(None)  # first connect at init, before any invocation
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    finally:
        restore(outside)
    yield engine
    engine.dispose()


def clean_url(server: Any, engine: Any) -> str:
    return f"{engine.url.drivername}://{server.host}:{server.port}/{server.dbname}"


def test_statements_in_a_lambda_handler_cover_the_driver(
    acceptor: Acceptor, server: Any, engine: Any
) -> None:
    def body() -> Any:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TEMPORARY TABLE items (n int)"))
            conn.execute(
                sqlalchemy.text("INSERT INTO items VALUES (:n)"), [{"n": 1}, {"n": 774411}]
            )
            return conn.execute(sqlalchemy.text("SELECT sum(n) FROM items")).scalar()

    total, entry, spans = in_lambda(acceptor, body, expected_spans=4)
    assert total == 774412
    # exactly the three statements, no driver span (postgres/mysql) inside them
    assert [s["n"] for s in spans] == ["sqlalchemy"] * 3
    placeholder = "%(n)s"
    expected: Dict[str, Any] = {
        "eng": engine.name,
        "url": clean_url(server, engine),
    }
    assert [s["data"]["sqlalchemy"] for s in spans] == [
        {**expected, "sql": "CREATE TEMPORARY TABLE items (n int)"},
        {**expected, "sql": f"INSERT INTO items VALUES ({placeholder})"},
        {**expected, "sql": "SELECT sum(n) FROM items"},
    ]
    assert all(s["p"] == entry["s"] and s["k"] == 2 and s["ec"] == 0 for s in spans)
    text = sent(acceptor)
    assert "774411" not in text and server.password not in text and "@" not in text


def test_errors_set_ec_and_err_and_reraise(acceptor: Acceptor, engine: Any) -> None:
    def body() -> Any:
        with engine.connect() as conn:
            conn.execute(
                sqlalchemy.text("SELECT * FROM no_such_table WHERE n = :n"), {"n": "param-5511"}
            )

    with pytest.raises(sqlalchemy.exc.ProgrammingError):
        in_entry(acceptor, body)
    (span,) = exits(acceptor.wait_for_spans(2))
    assert span["n"] == "sqlalchemy" and span["ec"] == 1
    err = span["data"]["sqlalchemy"]["err"]
    assert err.startswith("ProgrammingError: ") and "no_such_table" in err
    assert "error" not in span["data"]["sqlalchemy"]
    # SQLAlchemy's own message lists the parameters: only the driver's message is kept
    assert "[parameters:" not in err and "param-5511" not in span["data"]["sqlalchemy"]["sql"]


def test_with_sqlalchemy_disabled_the_driver_span_shows(
    acceptor: Acceptor, engine: Any, server: Any
) -> None:
    from tests.conftest import configure_for

    configure_for(acceptor, disabled_instrumentations=["sqlalchemy"])

    def body() -> Any:
        with engine.connect() as conn:
            return conn.execute(sqlalchemy.text("SELECT 7")).scalar()

    try:
        assert in_entry(acceptor, body)[0] == 7
        (span,) = exits(acceptor.spans())
        assert span["n"] == ("postgres" if engine.name == "postgresql" else "mysql")
    finally:
        instana.configure(environ={})


def test_uninstrument_removes_the_listeners(client: Client) -> None:
    names = ("before_cursor_execute", "after_cursor_execute", "handle_error")
    engine = sqlalchemy.create_engine("sqlite://")  # an engine made before instrument()

    def listeners() -> Dict[str, int]:
        # handle_error is a dialect event since SQLAlchemy 2.0
        owners = (engine.dispatch, engine.dialect.dispatch)
        return {
            name: len(getattr(owner, name))
            for name in names
            for owner in owners
            if name in dir(owner)
        }

    uninstrument()
    before = listeners()
    assert set(before) == set(names)
    instrument()
    try:
        assert "sqlalchemy" in patched()
        assert listeners() == {name: count + 1 for name, count in before.items()}
        instrument()  # idempotent: no second listener
        assert listeners() == {name: count + 1 for name, count in before.items()}
    finally:
        uninstrument()
    assert listeners() == before
