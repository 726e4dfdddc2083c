"""Exit spans ``postgres`` for psycopg 3: ``Cursor`` and ``AsyncCursor`` ``execute`` and
``executemany`` (``Connection.execute`` goes through them; a client-side or raw cursor
inherits them).

Host, port, database and user come from ``connection.info`` (libpq's view, so a DSN or URL
connection is described the same as a keyword one); the password is never read.
"""

from __future__ import annotations

from ._patches import Method
from ._sql import compact, connection_facts, span_data

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

    from ._wrap import Call, StartResult


def _facts(connection: Any) -> Dict[str, Any]:
    info = connection.info
    port = info.port
    return compact(
        {
            "host": info.host,
            "port": int(port) if port else None,
            "db": info.dbname,
            "user": info.user,
        }
    )


def _statement(cursor: Any, query: Any) -> Any:
    if isinstance(query, (str, bytes)):
        return query
    as_string = getattr(query, "as_string", None)  # sql.Composed: the SQL the server gets
    return as_string(cursor) if as_string is not None else query


def start(call: Call) -> StartResult:
    if not call.recording:
        return "postgres", None, ("pg",)
    args = call.args
    cursor = args[0]
    query = args[1] if len(args) > 1 else call.kwargs.get("query")
    facts = connection_facts(cursor.connection, _facts)
    return "postgres", span_data("pg", _statement(cursor, query), facts), ("pg",)


PATCHES = {
    "psycopg.cursor": (
        Method("Cursor", "execute", start),
        Method("Cursor", "executemany", start),
    ),
    "psycopg.cursor_async": (
        Method("AsyncCursor", "execute", start),
        Method("AsyncCursor", "executemany", start),
    ),
}
