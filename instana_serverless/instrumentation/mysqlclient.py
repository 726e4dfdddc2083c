"""Exit spans ``mysql`` for mysqlclient (``MySQLdb``): ``execute``, ``executemany`` and
``callproc`` of every cursor class (all inherit ``BaseCursor``'s; ``executemany`` running
``execute`` itself stays one span).

The C connection does not expose the port or database it was opened with, so
``Connection.__init__`` is wrapped to note host, port, database and user as the connection
is made; the password is never read.
"""

from __future__ import annotations

from ._patches import Custom, Method
from ._sql import compact, mysql_start, noting_init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple

    from ._wrap import Call, StartResult

# MySQLdb.connect(host, user, passwd, db, port, ...)
_POSITIONAL = ("host", "user", "passwd", "db", "port")


def _note(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Host, port, database and user from ``Connection(...)``'s arguments."""
    given = dict(zip(_POSITIONAL, args))
    given.update(kwargs)
    unix_socket = given.get("unix_socket")
    host = given.get("host") or "localhost"
    return {
        "host": unix_socket if unix_socket and host == "localhost" else host,
        "port": given.get("port") or (None if unix_socket else 3306),
        "db": given.get("database") or given.get("db"),
        "user": given.get("user"),
    }


def _facts(connection: Any) -> Dict[str, Any]:
    """For a connection made before instrument(): what the C connection tells."""
    info = connection.get_host_info()  # "127.0.0.1 via TCP/IP"
    return compact({"host": info.split(" ", 1)[0] if isinstance(info, str) else None})


def start(call: Call) -> StartResult:
    return mysql_start(call, _facts)


PATCHES = {
    "MySQLdb.connections": (Custom("Connection", "__init__", noting_init("mysqlclient", _note)),),
    "MySQLdb.cursors": (
        Method("BaseCursor", "execute", start),
        Method("BaseCursor", "executemany", start),
        Method("BaseCursor", "callproc", start),
    ),
}
