"""What the database instrumentations share: the statement as the driver received it, and the
connection facts (host, port, db, user) read once per connection where the driver allows.

Bound parameter values are never read: only the statement text, with its placeholders.
"""

from __future__ import annotations

from ._common import tracer_bug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    from ._wrap import Call, StartResult
    from .registry import Entry

#: longer statements are cut: a bulk INSERT with inlined values must not fill the buffer
MAX_STATEMENT = 4000
#: where a connection object that allows it keeps what ``compute`` found
FACTS_ATTR = "_instana_db_facts"


def statement_text(statement: Any) -> str:
    if isinstance(statement, str):
        text = statement
    elif isinstance(statement, (bytes, bytearray, memoryview)):
        text = bytes(statement).decode("utf-8", "replace")
    else:
        text = str(statement)
    return text[:MAX_STATEMENT]


def compact(values: Dict[str, Any]) -> Dict[str, Any]:
    """Facts without the unknown ones; bytes (some drivers keep names so) as text."""
    out: Dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        out[key] = value
    return out


def connection_facts(connection: Any, compute: Callable[[Any], Dict[str, Any]]) -> Dict[str, Any]:
    """``compute(connection)``, kept on the connection when it takes attributes (they do not
    change for its lifetime); a fresh dict the caller may extend."""
    facts: Optional[Dict[str, Any]] = getattr(connection, FACTS_ATTR, None)
    if facts is None:
        facts = compute(connection)
        try:  # noqa: SIM105  (no contextlib on the cold path)
            setattr(connection, FACTS_ATTR, facts)
        except (AttributeError, TypeError):
            pass  # __slots__ or a C type: computed on each call (cheap attribute reads)
    return dict(facts)


def span_data(section: str, statement: Any, facts: Dict[str, Any]) -> Dict[str, Any]:
    facts["stmt"] = statement_text(statement)
    return {section: facts}


def noting_init(
    driver: str, note: Callable[[Tuple[Any, ...], Dict[str, Any]], Dict[str, Any]]
) -> Callable[[Entry, Callable[..., Any]], Callable[..., Any]]:
    """A ``Custom`` maker for the ``__init__`` of a connection that does not keep its address:
    after the original, ``note(args, kwargs)`` (the facts from the arguments, never the
    password) is kept on the connection for ``connection_facts``."""
    what = f"noting a {driver} connection's address"

    def make(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            try:
                setattr(self, FACTS_ATTR, compact(note(args, kwargs)))
            except Exception:
                tracer_bug(what)

        return __init__

    return make


def cursor_start(
    call: Call, span_name: str, section: str, compute: Callable[[Any], Dict[str, Any]]
) -> StartResult:
    """``start`` of a DB-API cursor's ``execute(query)``, ``executemany(query, ...)`` and
    ``callproc(procname)`` (psycopg2, PyMySQL and mysqlclient alike): the statement and the
    facts ``compute`` reads from the cursor's connection, under ``data.<section>``."""
    if not call.recording:
        return span_name, None, (section,)
    args = call.args
    cursor = args[0]
    statement = args[1] if len(args) > 1 else call.kwargs.get("query", call.kwargs.get("procname"))
    facts = connection_facts(cursor.connection, compute)
    return span_name, span_data(section, statement, facts), (section,)


def mysql_start(call: Call, compute: Callable[[Any], Dict[str, Any]]) -> StartResult:
    """``cursor_start`` for the MySQL drivers' ``mysql`` spans."""
    return cursor_start(call, "mysql", "mysql", compute)
