"""Exit spans ``postgres`` for asyncpg: ``Connection.execute``, ``executemany``, ``fetch``,
``fetchrow`` and ``fetchval`` (a pool's ``fetch`` & co. and its acquired connections reach the
same methods, so pools are traced too; a nested call of the same connection stays one span).
The reset query a pool runs on each released connection is left out.

Host and port come from the address the connection was made to, database and user from its
connection parameters (a DSN or URL connection included); the password is never read.
"""

from __future__ import annotations

from ._patches import Method
from ._sql import compact, connection_facts, span_data

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

    from ._wrap import Call, StartResult


def _facts(connection: Any) -> Dict[str, Any]:
    address = getattr(connection, "_addr", None)
    params = getattr(connection, "_params", None)
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
    else:  # a Unix socket path
        host, port = address, None
    return compact(
        {
            "host": host if isinstance(host, str) else None,
            "port": port if isinstance(port, int) else None,
            "db": getattr(params, "database", None),
            "user": getattr(params, "user", None),
        }
    )


def start(call: Call) -> StartResult:
    args = call.args
    query = args[1] if len(args) > 1 else call.kwargs.get("query", call.kwargs.get("command"))
    connection = args[0]
    if query is not None and query is getattr(connection, "_reset_query", None):
        return None  # a pool resetting a released connection: housekeeping, not the function's
    if not call.recording:
        return "postgres", None, ("pg",)
    facts = connection_facts(connection, _facts)
    return "postgres", span_data("pg", query, facts), ("pg",)


PATCHES = {
    "asyncpg.connection": tuple(
        Method("Connection", name, start)
        for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval")
    ),
}
