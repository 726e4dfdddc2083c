"""Exit spans ``postgres`` for psycopg2: ``execute``, ``executemany`` and ``callproc`` of the
cursors of connections made by ``psycopg2.connect``.

psycopg2's connection and cursor are C types whose methods cannot be replaced, so
``psycopg2.connect`` is wrapped to make its connections of a traced subclass (of the
``connection_factory`` given, if any), whose cursors are of a traced subclass of the cursor
class in use (``cursor_factory`` of the call or the connection, ``DictCursor`` & co.).
Connections made before ``instrument()`` stay untraced; after ``uninstrument()`` new ones are
plain again. Host, port, database and user come from ``connection.info`` (libpq's view, so a
DSN connection is described too); the password is never read.
"""

from __future__ import annotations

import sys

from ._common import tracer_bug
from ._patches import Custom
from ._sql import compact, cursor_start
from ._wrap import wrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

    from ._wrap import Call, End, StartResult
    from .registry import Entry

_TRACED_METHODS = ("execute", "executemany", "callproc")


def _facts(connection: Any) -> Dict[str, Any]:
    info = connection.info
    return compact({"host": info.host, "port": info.port, "db": info.dbname, "user": info.user})


# psycopg2 once patched: its connect() tells whether we are still instrumented (connections
# made while we were keep their traced class, but stop making spans after uninstrument()).
_library: Any = None


def start(call: Call) -> StartResult:
    if not getattr(getattr(_library, "connect", None), "__instana_wrapped__", False):
        return None
    return cursor_start(call, "postgres", "pg", _facts)


#: nothing to add after the call (module-level so the wrappers made at connect time read it)
end: Optional[End] = None


class _Classes:
    """Traced subclasses, made once per class the user's code brings (a plain dict: the
    classes live as long as the library)."""

    def __init__(self, entry: Entry, base_connection: Any, base_cursor: Any) -> None:
        self.entry = entry
        self.base_connection = base_connection
        self.base_cursor = base_cursor
        self.cursors: Dict[type, type] = {}
        self.connections: Dict[type, type] = {}
        self.hook: Any = None

    def cursor_class(self, cls: type) -> type:
        traced = self.cursors.get(cls)
        if traced is None:
            if getattr(cls, "__instana_traced__", False):
                return cls
            namespace: Dict[str, Any] = {"__slots__": (), "__instana_traced__": True}
            for name in _TRACED_METHODS:
                namespace[name] = wrap(self.entry, getattr(cls, name), start, end)
            traced = type(cls.__name__, (cls,), namespace)
            traced.__module__ = cls.__module__
            self.cursors[cls] = traced
        return traced

    def connection_class(self, cls: Any) -> Any:
        traced = self.connections.get(cls)
        if traced is not None:
            return traced
        if getattr(cls, "__instana_traced__", False):
            return cls
        if self.hook is None:
            self.hook = self._hook()
        # The hook sits right above libpq's connection in the method order, so a factory's
        # own cursor() (DictConnection picks DictCursor) still decides, then the hook traces it.
        bases = (self.hook,) if cls is self.base_connection else (cls, self.hook)
        traced = type(cls.__name__, bases, {"__instana_traced__": True})
        traced.__module__ = cls.__module__
        self.connections[cls] = traced
        return traced

    def _hook(self) -> Any:
        classes = self
        base_cursor = self.base_cursor
        make_cursor = self.base_connection.cursor  # what super() finds above the hook

        def cursor(self: Any, *args: Any, **kwargs: Any) -> Any:
            if len(args) >= 2:  # cursor(name, cursor_factory, ...)
                factory = args[1] or self.cursor_factory or base_cursor
                args = (args[0], classes.cursor_class(factory), *args[2:])
            else:
                factory = kwargs.get("cursor_factory") or self.cursor_factory or base_cursor
                kwargs["cursor_factory"] = classes.cursor_class(factory)
            return make_cursor(self, *args, **kwargs)

        hook = type("connection", (self.base_connection,), {"cursor": cursor})
        hook.__module__ = __name__
        return hook


def _traced_connect(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    global _library
    _library = sys.modules["psycopg2"]
    extensions = sys.modules["psycopg2.extensions"]
    classes = _Classes(entry, extensions.connection, extensions.cursor)

    def connect(*args: Any, **kwargs: Any) -> Any:
        if len(args) > 1:  # connect(dsn, connection_factory, ...): rare, left as it is
            return original(*args, **kwargs)
        try:
            factory = kwargs.get("connection_factory") or classes.base_connection
            traced = classes.connection_class(factory)
        except Exception:
            tracer_bug("tracing a psycopg2 connection")
            return original(*args, **kwargs)
        return original(*args, **{**kwargs, "connection_factory": traced})

    return connect


PATCHES = {
    "psycopg2": (Custom("", "connect", _traced_connect),),
}
