"""Exit spans ``postgres`` for pg8000: the legacy and DB-API cursors' ``execute`` and
``executemany``, and the native ``Connection.run`` (a legacy ``Connection.run`` goes through
its cursor: one span).

pg8000 keeps neither host nor database on the connection, so its ``__init__`` is wrapped to
note them (with port and user) as the connection is made; the password is never read.
"""

from __future__ import annotations

from ._patches import Custom, Method
from ._sql import compact, connection_facts, noting_init, span_data

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple

    from ._wrap import Call, StartResult

# CoreConnection.__init__(self, user, host, database, port, ...)
_POSITIONAL = ("user", "host", "database", "port")


def _note(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Host, port, database and user from ``CoreConnection(...)``'s arguments."""
    given = dict(zip(_POSITIONAL, args))
    for name in _POSITIONAL:
        if name in kwargs:
            given[name] = kwargs[name]
    unix_sock = kwargs.get("unix_sock")
    return {
        "host": unix_sock or given.get("host", "localhost"),
        "port": None if unix_sock else given.get("port", 5432),
        "db": given.get("database") or given.get("user"),
        "user": given.get("user"),
    }


def _facts(connection: Any) -> Dict[str, Any]:
    """For a connection made before instrument(): what the connection itself knows."""
    return compact({"user": getattr(connection, "user", None)})


def _start(call: Call, connection: Any, statement: Any) -> StartResult:
    if not call.recording:
        return "postgres", None, ("pg",)
    return "postgres", span_data("pg", statement, connection_facts(connection, _facts)), ("pg",)


def _statement(call: Call) -> Any:
    args = call.args
    return args[1] if len(args) > 1 else call.kwargs.get("operation", call.kwargs.get("sql"))


def start_cursor(call: Call) -> StartResult:
    cursor = call.args[0]
    return _start(call, getattr(cursor, "_c", None), _statement(call))


def start_run(call: Call) -> StartResult:
    return _start(call, call.args[0], _statement(call))


PATCHES = {
    "pg8000.core": (Custom("CoreConnection", "__init__", noting_init("pg8000", _note)),),
    "pg8000.legacy": (
        Method("Cursor", "execute", start_cursor),
        Method("Cursor", "executemany", start_cursor),
    ),
    "pg8000.dbapi": (
        Method("Cursor", "execute", start_cursor),
        Method("Cursor", "executemany", start_cursor),
    ),
    "pg8000.native": (Method("Connection", "run", start_run),),
}
