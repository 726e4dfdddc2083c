"""Exit spans ``log`` for log records at WARNING and above inside a trace.

``Logger.handle`` receives every record a logger lets through (``warning``, ``error``,
``exception``, ``log`` …) once it is made: the message is formatted with its arguments
(``record.getMessage()``), and the caller's file and line were already found, so our frame never
shows up as the record's origin (a wrapper of ``Logger._log`` would have to correct
``stacklevel`` for every Python version). Records below WARNING cost one comparison.

Data as the official Instana sensor sends them: ``log.message`` (the formatted message) and
``log.parameters`` (``"<class 'ValueError'> boom"`` for the exception being handled, if any);
ERROR and above count as an error (``ec``). The span covers the handlers' work; a handler
that raises is recorded (``log.error``) and its exception re-raised. Records of our own
``instana_serverless`` logger, or logged from our own code through an injected logger, never
make a span, and no span is made outside a trace.
"""

from __future__ import annotations

import sys

from . import _wrap
from ._common import tracer_bug
from ._patches import Custom

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from ._wrap import Call, StartResult
    from .registry import Entry

WARNING = 30  # logging.WARNING, without importing logging
ERROR = 40
MAX_MESSAGE = 1000
_OWN_LOGGER = "instana_serverless"
_OWN_CODE = __file__.rsplit("instrumentation", 1)[0]  # .../instana_serverless/


def _ours(record: Any) -> bool:
    name = str(record.name)
    if name == _OWN_LOGGER or name.startswith(_OWN_LOGGER + "."):
        return True
    pathname = getattr(record, "pathname", None)
    return isinstance(pathname, str) and pathname.startswith(_OWN_CODE)


def _message(record: Any) -> str:
    try:
        text = record.getMessage()
    except Exception:  # bad arguments: logging reports it in its handler, we keep the text
        text = str(record.msg)
    return str(text)[:MAX_MESSAGE]


def _parameters(record: Any) -> Any:
    exc_info = getattr(record, "exc_info", None)
    if not (isinstance(exc_info, tuple) and exc_info and exc_info[0] is not None):
        exc_info = sys.exc_info()
    kind, value = exc_info[0], exc_info[1]
    if kind is None or value is None:
        return None
    try:
        return f"{kind} {value}"[:MAX_MESSAGE]
    except Exception:
        return f"{kind}"[:MAX_MESSAGE]


def start(call: Call) -> StartResult:
    record = call.args[1]
    if _ours(record):
        return None
    if not call.recording:
        return "log", None, ("log",)
    log = {"message": _message(record)}
    parameters = _parameters(record)
    if parameters is not None:
        log["parameters"] = parameters
    return "log", {"log": log}, ("log",)


def _handle(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    def handle(*args: Any, **kwargs: Any) -> Any:
        try:
            serious = args[1].levelno >= WARNING
        except Exception:
            serious = False
        if not serious:
            return original(*args, **kwargs)
        call = _wrap.begin(entry, start, None, args, kwargs)
        if call is None:
            return original(*args, **kwargs)
        try:
            if args[1].levelno >= ERROR and call.span.recording:
                call.span.mark_error()
        except Exception:
            tracer_bug("marking a log span")
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _wrap.finish(entry, None, call, None, exc)
            raise
        _wrap.finish(entry, None, call, result, None)
        return result

    return handle


PATCHES = {
    "logging": (Custom("Logger", "handle", _handle),),
}
