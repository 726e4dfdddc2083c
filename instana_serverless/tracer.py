"""Starting spans and tracking the active one.

The active span lives in a ``ContextVar``: each thread starts with none and each asyncio
task sees the span that was active when it was created, so concurrent work never crosses
traces.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from .ids import new_id, new_id_pair
from .propagation import IncomingContext, outgoing_headers
from .span import ENTRY, EXIT, INTERMEDIATE, Span, Trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    from .span import FinishHook

_active: ContextVar[Optional[Span]] = ContextVar("instana_serverless_active_span", default=None)


def current_span() -> Optional[Span]:
    """The span open in this thread or task, if any."""
    return _active.get()


# ``current_span`` without a Python call around it, for code run once per span.
active_span = _active.get
# ``activate(span)`` makes ``span`` the active one and returns the token ``restore`` takes; the
# bound method itself, as it runs once per span.
activate: Callable[[Optional[Span]], Token[Optional[Span]]] = _active.set


def restore(token: Token[Optional[Span]]) -> None:
    try:
        _active.reset(token)
    except ValueError:
        # Reset from another context (e.g. a callback run elsewhere): clearing is the safe fallback.
        _active.set(None)


def trace_from(
    incoming: Optional[IncomingContext], *, recording: bool = True
) -> Tuple[Trace, Optional[str]]:
    """A trace for a new entry span and the parent id it continues, if any."""
    if incoming is None:
        return Trace(new_id(), recording=recording), None
    continues = incoming.continues_trace
    trace_id = incoming.trace_id if continues and incoming.trace_id else new_id()
    trace = Trace(
        trace_id,
        long_trace_id=incoming.long_trace_id if continues else None,
        w3c_trace_id=incoming.w3c_trace_id,
        tracestate=incoming.tracestate,
        recording=recording and not incoming.suppressed,
        synthetic=incoming.synthetic,
        traceparent_used=incoming.traceparent_used,
        instana_ancestor=incoming.instana_ancestor,
        correlation_type=incoming.correlation_type,
        correlation_id=incoming.correlation_id,
    )
    return trace, incoming.parent_id if continues else None


def start_entry(
    name: str,
    incoming: Optional[IncomingContext] = None,
    *,
    on_finish: Optional[FinishHook],
    data: Optional[Dict[str, Any]] = None,
    error_path: Tuple[str, ...] = (),
    recording: bool = True,
) -> Span:
    """A new entry span (not yet active). Suppressed traces give a span that records nothing
    but still tells exits to pass ``X-INSTANA-L: 0`` on."""
    if incoming is None:  # the common case: a new trace, both ids from one system call
        trace_id, span_id = new_id_pair()
        trace, parent_id = Trace(trace_id, recording=recording), None
    else:
        trace, parent_id = trace_from(incoming, recording=recording)
        span_id = new_id()
    return Span(
        trace,
        span_id,
        parent_id,
        name,
        ENTRY,
        data,
        on_finish if trace.recording else None,
        error_path,
    )


def start_child(
    name: str,
    kind: int = EXIT,
    *,
    data: Optional[Dict[str, Any]] = None,
    error_path: Tuple[str, ...] = (),
    parent: Optional[Span] = None,
) -> Optional[Span]:
    """An exit or intermediate span under ``parent`` (default: the active span).

    None when there is no trace to belong to: calls made outside any traced work are not
    recorded, as in every Instana sensor.
    """
    if parent is None:
        parent = _active.get()
        if parent is None:
            return None
    return Span(
        parent.trace,
        new_id(),
        parent.span_id,
        name,
        kind,
        data,
        parent._on_finish,
        error_path,
    )


def start_root(
    name: str,
    kind: int,
    *,
    on_finish: Optional[FinishHook],
    data: Optional[Dict[str, Any]] = None,
    error_path: Tuple[str, ...] = (),
) -> Span:
    """A span with no parent that starts its own trace (an exit made outside any entry, when
    the user asked for those)."""
    trace_id, span_id = new_id_pair()
    return Span(Trace(trace_id), span_id, None, name, kind, data, on_finish, error_path)


def start_unrecorded(name: str, kind: int, parent: Span) -> Span:
    """A span under ``parent`` that records nothing, nor does anything below it, and tells
    the next service not to trace either (``X-INSTANA-L: 0``): a filter rule suppressed it."""
    trace = parent.trace
    quiet = Trace(
        trace.trace_id,
        long_trace_id=trace.long_trace_id,
        w3c_trace_id=trace.w3c_trace_id,
        tracestate=trace.tracestate,
        recording=False,
    )
    return Span(quiet, new_id(), parent.span_id, name, kind, None, None, ())


def context_headers(span: Span) -> Dict[str, str]:
    """Headers that carry ``span``'s context onward (Instana and W3C)."""
    trace = span.trace
    return outgoing_headers(
        trace.trace_id,
        span.span_id,
        trace.w3c_trace_id,
        trace.tracestate,
        suppressed=not trace.recording,
    )


__all__ = [
    "ENTRY",
    "EXIT",
    "INTERMEDIATE",
    "activate",
    "active_span",
    "context_headers",
    "current_span",
    "restore",
    "start_child",
    "start_entry",
    "start_root",
    "start_unrecorded",
    "trace_from",
]
