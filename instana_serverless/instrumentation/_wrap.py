"""The one wrapper every instrumented callable gets: guard → start → activate → call → end →
finish, for plain and ``async def`` callables alike.

An instrumentation module supplies two functions and this module does the rest:

``start(call) -> (span name, data, error path) | None``
    Reads ``call.args`` / ``call.kwargs`` (and ``call.recording``: False in a suppressed trace,
    where data would be thrown away). None lets this call pass through untraced.
``end(call, result, exc) -> None``
    Adds what the result (or the library's exception, already counted in ``ec`` and written to
    the error path) tells. Called only when the trace records.

and optionally ``inject(call)``, run once ``call.span`` exists, which may replace ``call.args``
/ ``call.kwargs`` with copies carrying the trace context (never mutate the caller's objects
unless the library's own request object is one-shot). ``call.state`` carries anything from
``start`` to ``inject`` and ``end``; ``call.config`` is the configuration the guard read (secrets,
extra headers), so start and end need not look the client up again.

Our own failures (in start, inject, end, or here) are logged at debug and the user's call goes
on exactly as without us; the library's exceptions are re-raised unchanged.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar

from ..client import get_client
from ..span import EXIT
from ..tracer import activate, current_span, restore, start_child, start_unrecorded
from ._common import tracer_bug
from ._stack import capture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextvars import Token
    from typing import Any, Callable, Dict, Optional, Tuple

    from ..config import Config
    from ..span import Span
    from .registry import Entry

    StartResult = Optional[Tuple[str, Optional[Dict[str, Any]], Tuple[str, ...]]]
    Start = Callable[["Call"], StartResult]
    End = Callable[["Call", Any, Optional[BaseException]], None]
    Inject = Callable[["Call"], None]

# (exit span, entry that made it) while one of our exits is active: what decides "covers".
_covering: ContextVar[Optional[Tuple[Span, Entry]]] = ContextVar(
    "instana_serverless_covering", default=None
)


class Call:
    """One traced call of a wrapped callable, as start/inject/end see it."""

    __slots__ = (
        "args",
        "config",
        "cover_token",
        "kwargs",
        "recording",
        "span",
        "state",
        "token",
    )

    def __init__(
        self, args: Tuple[Any, ...], kwargs: Dict[str, Any], recording: bool, config: Config
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        self.recording = recording
        self.config = config
        self.state: Any = None
        self.span: Span = None  # type: ignore[assignment]  # set before inject/end run
        self.token: Optional[Token[Optional[Span]]] = None
        self.cover_token: Optional[Token[Optional[Tuple[Span, Entry]]]] = None


def parent_for(entry: Entry) -> Optional[Span]:
    """The span a call of ``entry`` would be an exit of, or None to pass through untouched:
    no trace active, tracing off, the entry disabled (by name, alias or category, checked on
    every call so a later ``configure`` counts), or inside an exit that covers it."""
    guarded = _guard(entry)
    return None if guarded is None else guarded[0]


def _guard(entry: Entry) -> Optional[Tuple[Optional[Span], Config]]:
    """``parent_for``, also giving the configuration it read: ``begin`` hands it to start
    and end on the ``Call`` (one client lookup per call instead of three). The parent is
    None for an exit made outside any entry when ``INSTANA_ALLOW_EXIT_AS_ROOT`` is on: it
    becomes a root span of its own trace."""
    parent = current_span()
    if parent is None:
        client = get_client()
        config = client.config
        if (
            config.allow_exit_as_root
            and client.tracing
            and entry.keys.isdisjoint(config.disabled_instrumentations)
        ):
            return None, config
        return None
    if parent.kind == EXIT:
        if not entry.inside_exits:
            return None
        covering = _covering.get()
        if covering is None or covering[0] is not parent:
            return None  # an exit we did not make (or lost track of): never nest under it
        owner = covering[1]
        if owner is entry or entry.name in owner.covers:
            return None
    client = get_client()
    config = client.config
    if not client.tracing or not entry.keys.isdisjoint(config.disabled_instrumentations):
        return None
    return parent, config


def begin(
    entry: Entry,
    start: Start,
    inject: Optional[Inject],
    args: Tuple[Any, ...],
    kwargs: Dict[str, Any],
) -> Optional[Call]:
    """Guard, start the exit span, inject, activate. None: call the original untouched."""
    try:
        guarded = _guard(entry)
        if guarded is None:
            return None
        parent, config = guarded
        call = Call(args, kwargs, True if parent is None else parent.recording, config)
        started = start(call)
        if started is None:
            return None
        name, data, error_path = started
        span: Optional[Span]
        span_filter = config.span_filter
        if span_filter is not None and span_filter.suppresses(name, EXIT, data):
            if parent is None:
                return None
            # not sent, nor anything below it; the service called is told not to trace
            span = start_unrecorded(name, EXIT, parent)
        elif parent is None:
            span = get_client().start_root_exit(name, data=data, error_path=error_path)
        else:
            span = start_child(name, EXIT, data=data, error_path=error_path, parent=parent)
        if span is None:
            return None
        call.span = span
    except Exception:
        tracer_bug(f"starting a {entry.name} span")
        return None
    if inject is not None:
        try:
            inject(call)
        except Exception:
            tracer_bug(f"adding trace context to a {entry.name} call")
            call.args, call.kwargs = args, kwargs
    call.token = activate(span)
    call.cover_token = _covering.set((span, entry))
    return call


def deactivate(call: Call) -> None:
    """The span stays open (for a response that comes later) but stops being the active one,
    and stops covering: the caller's own code runs under its own span again."""
    if call.cover_token is not None:
        try:
            _covering.reset(call.cover_token)
        except ValueError:
            _covering.set(None)
        call.cover_token = None
    if call.token is not None:
        restore(call.token)
        call.token = None


def finish(entry: Entry, end: Optional[End], call: Call, result: Any, exc: Any) -> None:
    """Deactivate, record the outcome, end the span; never raises."""
    span = call.span
    try:
        if call.cover_token is not None:
            _covering.reset(call.cover_token)
    except ValueError:
        _covering.set(None)  # reset from another context: clearing is the safe fallback
    if call.token is not None:
        restore(call.token)
    try:
        if span.recording:
            if exc is not None:
                span.record_exception(exc)
            if end is not None:
                end(call, result, exc)
    except Exception:
        tracer_bug(f"ending a {entry.name} span")
    close(span, call.config, entry.name)


def close(span: Span, config: Config, name: str) -> None:
    """Add the caller's stack (as ``INSTANA_STACK_TRACE`` says) and end the exit span; never
    raises. Every exit ends here, the listener-made ones (pymongo) included."""
    try:
        if span.recording:
            level = config.stack_trace
            if level == "all" or (level == "error" and span.error_count):
                span.stack = capture(config.stack_trace_length, sys._getframe(1))
    except Exception:
        tracer_bug(f"taking the stack of a {name} span")
    try:
        span.finish()
    except Exception:
        tracer_bug(f"finishing a {name} span")


def wrap_sync(
    entry: Entry,
    original: Callable[..., Any],
    start: Start,
    end: Optional[End],
    inject: Optional[Inject] = None,
) -> Callable[..., Any]:
    """A traced stand-in for the plain callable ``original`` (kept in this closure)."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        call = begin(entry, start, inject, args, kwargs)
        if call is None:
            return original(*args, **kwargs)
        try:
            result = original(*call.args, **call.kwargs)
        except BaseException as exc:
            finish(entry, end, call, None, exc)
            raise
        finish(entry, end, call, result, None)
        return result

    return traced


def wrap_async(
    entry: Entry,
    original: Callable[..., Any],
    start: Start,
    end: Optional[End],
    inject: Optional[Inject] = None,
) -> Callable[..., Any]:
    """A traced stand-in for the coroutine function ``original``; the span covers the await."""

    async def traced(*args: Any, **kwargs: Any) -> Any:
        call = begin(entry, start, inject, args, kwargs)
        if call is None:
            return await original(*args, **kwargs)
        try:
            result = await original(*call.args, **call.kwargs)
        except BaseException as exc:
            finish(entry, end, call, None, exc)
            raise
        finish(entry, end, call, result, None)
        return result

    return traced


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect


def is_coroutine_function(function: Any) -> bool:
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


def wrap(
    entry: Entry,
    original: Callable[..., Any],
    start: Start,
    end: Optional[End],
    inject: Optional[Inject] = None,
) -> Callable[..., Any]:
    """``wrap_async`` for ``async def`` originals, else ``wrap_sync``; metadata copied over."""
    factory = wrap_async if is_coroutine_function(original) else wrap_sync
    traced = factory(entry, original, start, end, inject)
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        value = getattr(original, attr, None)
        if value is not None:
            setattr(traced, attr, value)
    traced.__wrapped__ = original  # type: ignore[attr-defined]
    traced.__instana_wrapped__ = True  # type: ignore[attr-defined]
    return traced
