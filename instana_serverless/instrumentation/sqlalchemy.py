"""Exit spans ``sqlalchemy`` from SQLAlchemy's engine events, for every engine and driver.

Listeners on the ``Engine`` class (so engines made before ``instrument()`` count too):
``before_cursor_execute`` starts the span and makes it the active exit,
``after_cursor_execute`` ends it, ``handle_error`` ends it with the error. The driver call in
between runs inside it, so the driver's own span (psycopg2, PyMySQL …) is covered by this one
(the registry row's ``covers``). The statement is recorded as SQLAlchemy hands it to the
driver, with placeholders; the URL without user or password.

Queries a dialect runs while it first connects (server version, settings) do not fire engine
events and show as the driver's own spans.
"""

from __future__ import annotations

import sys

from ..secrets import mask_url_credentials
from ..span import MAX_ERROR_LENGTH, describe_exception
from . import _wrap
from ._common import tracer_bug
from ._patches import Install
from ._sql import statement_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Dict, Optional, Tuple

    from ._wrap import Call, End, StartResult
    from .registry import Entry

_CALL_ATTR = "_instana_call"
# URLs seen, as sent (engines are few and their URLs immutable)
_urls: Dict[Any, str] = {}
_MAX_URLS = 64


def _url(url: Any) -> str:
    text = _urls.get(url)
    if text is None:
        try:
            bare = url._replace(username=None, password=None)  # URL is a NamedTuple (1.4+)
            text = bare.render_as_string(hide_password=True)
        except Exception:  # not a URL object of a known version: mask whatever it prints
            text = mask_url_credentials(str(url))
        if len(_urls) < _MAX_URLS:
            _urls[url] = text
    return text


def start(call: Call) -> StartResult:
    if not call.recording:
        return "sqlalchemy", None, ()
    connection, _cursor, statement = call.args[:3]
    engine = connection.engine
    data = {
        "sql": statement_text(statement),
        "eng": engine.name,
        "url": _url(engine.url),
    }
    return "sqlalchemy", {"sqlalchemy": data}, ()


#: nothing to add after the call (finish() is called with it)
end: Optional[End] = None


def _take(context: Any) -> Optional[Call]:
    """The call ``before_cursor_execute`` kept on the execution context, removed from it."""
    kept = getattr(context, "__dict__", None)
    return kept.pop(_CALL_ATTR, None) if kept is not None else None


def _listeners(entry: Entry) -> Tuple[Any, Any, Any]:
    def before_cursor_execute(
        conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, many: Any
    ) -> None:
        call = _wrap.begin(entry, start, None, (conn, cursor, statement), {})
        if call is not None and context is not None:
            try:
                setattr(context, _CALL_ATTR, call)
            except Exception:
                tracer_bug("keeping a sqlalchemy span")
                _wrap.finish(entry, end, call, None, None)

    def after_cursor_execute(
        conn: Any, cursor: Any, statement: Any, parameters: Any, context: Any, many: Any
    ) -> None:
        call = _take(context)
        if call is not None:
            _wrap.finish(entry, end, call, None, None)  # never raises

    def handle_error(exception_context: Any) -> None:
        # SQLAlchemy lets a listener's exception through to the caller: nothing may escape
        try:
            call = _take(exception_context.execution_context)
        except Exception:
            tracer_bug("ending a sqlalchemy span")
            return
        if call is None:
            return
        try:
            span = call.span
            if span.recording:
                # counted here rather than by finish(): sqlalchemy's key is "err"
                span.mark_error()
                # the type the caller catches, with the driver's own message: never the
                # wrapper's text, which lists the bound parameters
                error = describe_exception(exception_context.original_exception)
                raised = exception_context.sqlalchemy_exception
                if raised is not None:
                    error = f"{type(raised).__name__}: {error}"
                span.data["sqlalchemy"]["err"] = error[:MAX_ERROR_LENGTH]
        except Exception:
            tracer_bug("recording a sqlalchemy error")
        _wrap.finish(entry, end, call, None, None)

    return before_cursor_execute, after_cursor_execute, handle_error


_EVENTS = ("before_cursor_execute", "after_cursor_execute", "handle_error")


def install(entry: Entry, module: ModuleType) -> Any:
    event = sys.modules["sqlalchemy.event"]
    engine_class = module.Engine
    listeners = _listeners(entry)
    for name, listener in zip(_EVENTS, listeners):
        event.listen(engine_class, name, listener)
    return listeners


def uninstall(module: ModuleType, listeners: Any) -> None:
    event = sys.modules["sqlalchemy.event"]
    for name, listener in zip(_EVENTS, listeners):
        if event.contains(module.Engine, name, listener):
            event.remove(module.Engine, name, listener)


PATCHES = {
    "sqlalchemy.engine": (Install(install, uninstall),),
}
