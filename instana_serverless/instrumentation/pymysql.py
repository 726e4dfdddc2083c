"""Exit spans ``mysql`` for PyMySQL: ``Cursor.execute``, ``executemany`` and ``callproc``
(every cursor class inherits them; ``executemany`` runs ``execute`` itself, one span).

Host, port, database and user are the connection's attributes; the password is never read.
"""

from __future__ import annotations

from ._patches import Method
from ._sql import compact, mysql_start

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

    from ._wrap import Call, StartResult


def _facts(connection: Any) -> Dict[str, Any]:
    return compact(
        {
            "host": getattr(connection, "host", None),
            "port": getattr(connection, "port", None),
            "db": getattr(connection, "db", None),
            "user": getattr(connection, "user", None),
        }
    )


def start(call: Call) -> StartResult:
    return mysql_start(call, _facts)


PATCHES = {
    "pymysql.cursors": (
        Method("Cursor", "execute", start),
        Method("Cursor", "executemany", start),
        Method("Cursor", "callproc", start),
    ),
}
