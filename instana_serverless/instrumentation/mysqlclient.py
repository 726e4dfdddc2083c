"""Exit spans ``mysql`` for mysqlclient (``MySQLdb``): ``execute``, ``executemany`` and
``callproc`` of every cursor class (all inherit ``BaseCursor``'s; ``executemany`` running
``execute`` itself stays one span).

The C connection does not expose the port or database it was opened with, so
``Connection.__init__`` is wrapped to note host, port, database and user as the connection
is made; the password is never read.
"""

from __future__ import annotations

from ._common import tracer_bug
from ._patches import Custom, Method
from ._sql import FACTS_ATTR, compact, connection_facts, span_data

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict

    from ._wrap import Call, StartResult
    from .registry import Entry

# MySQLdb.connect(host, user, passwd, db, port, ...)
_POSITIONAL = ("host", "user", "passwd", "db", "port")


def _noted_init(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            given = dict(zip(_POSITIONAL, args))
            given.update(kwargs)
            unix_socket = given.get("unix_socket")
            host = given.get("host") or "localhost"
            facts = {
                "host": unix_socket if unix_socket and host == "localhost" else host,
                "port": given.get("port") or (None if unix_socket else 3306),
                "db": given.get("database") or given.get("db"),
                "user": given.get("user"),
            }
            setattr(self, FACTS_ATTR, compact(facts))
        except Exception:
            tracer_bug("noting a mysqlclient connection's address")

    return __init__


def _facts(connection: Any) -> Dict[str, Any]:
    """For a connection made before instrument(): what the C connection tells."""
    info = connection.get_host_info()  # "127.0.0.1 via TCP/IP"
    return compact({"host": info.split(" ", 1)[0] if isinstance(info, str) else None})


def start(call: Call) -> StartResult:
    if not call.recording:
        return "mysql", None, ("mysql",)
    args = call.args
    cursor = args[0]
    statement = args[1] if len(args) > 1 else call.kwargs.get("query", call.kwargs.get("procname"))
    facts = connection_facts(cursor.connection, _facts)
    return "mysql", span_data("mysql", statement, facts), ("mysql",)


PATCHES = {
    "MySQLdb.connections": (Custom("Connection", "__init__", _noted_init),),
    "MySQLdb.cursors": (
        Method("BaseCursor", "execute", start),
        Method("BaseCursor", "executemany", start),
        Method("BaseCursor", "callproc", start),
    ),
}
