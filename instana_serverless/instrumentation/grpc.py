"""gRPC (grpcio, sync and ``grpc.aio``): ``rpc-client`` exits and ``rpc-server`` entries.

Both carry ``data.rpc.{flavor: "grpc", call, call_type, host, port, error}`` as the Instana
sensors send them: ``call`` is the full method name (``/package.Service/Method``),
``call_type`` ``unary`` when request and response are single messages, else ``stream``, ``port``
a string.

**Client.** The channel's multi-callables are patched (every channel, however made, and the
calls user interceptors pass on). The trace context goes into the call's metadata as
``x-instana-t``, ``x-instana-s``, ``x-instana-l`` (only ``x-instana-l: 0`` in a suppressed
trace) plus ``traceparent``/``tracestate``; the caller's own metadata is kept (in a copy) and
stale trace keys of theirs are replaced. A blocking call (``__call__``, ``with_call``) is one
span around the call. A call that goes on after it returns (``future()``, response streams,
every ``grpc.aio`` call) starts its span when it is made and ends it when the RPC terminates
(the RPC's done callback), so the span covers the whole stream. A non-OK status marks the
span (``ec``, ``rpc.error`` = ``"<raised type>: <CODE>: <details>"``); a call the client
cancelled itself is not an error.

**Server.** Servers (``grpc.server()`` and ``grpc.aio.server()``) built while instrumented get
our server interceptor in front of the user's; it wraps the handler of each call so that the
handler runs inside an ``rpc-server`` entry opened by ``_entry.open_entry`` (continuing the
metadata's context, flushed when the call ends). A response stream's entry ends when the
stream is exhausted, fails or the call terminates. The status the handler set
(``context.abort``, ``context.set_code``) marks the entry; an exception escaping the handler
does too. ``host``/``port`` (the ``:authority`` the client called) are known on sync servers
only: grpc.aio does not expose it. Interceptors only reach servers built after the patch:
call ``instrument()`` (or decorate your handler) before building the server.
"""

from __future__ import annotations

import sys

from ..sending import work_done_async
from ..span import MAX_ERROR_LENGTH
from ..tracer import activate, context_headers, restore
from . import _wrap
from ._common import CONTEXT_HEADERS, tracer_bug
from ._entry import enabled, open_entry
from ._patches import Custom, Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

    from ..invocation import Invocation
    from ._wrap import Call, StartResult
    from .registry import Entry

UNARY = "unary"
STREAM = "stream"
CLIENT_SPAN = "rpc-client"
SERVER_SPAN = "rpc-server"
ERROR_PATH = ("rpc",)

# The multi-callables whose request and response are single messages (sync and aio names).
_UNARY_CALLABLES = frozenset(("_UnaryUnaryMultiCallable", "UnaryUnaryMultiCallable"))
# Sync multi-callables take (request, timeout, metadata, ...) positionally; aio keywords only.
_METADATA_AT = 3
# call.state of a call whose span ends when the RPC terminates (sync rendezvous, aio call)
_SYNC_RPC = 1
_AIO_RPC = 2
_WANTED = frozenset(("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate"))
_CO_ASYNC_GENERATOR = 0x200  # inspect.CO_ASYNC_GENERATOR, without importing inspect

# (channel target, method) -> the client span's rpc data without call_type: parsed once
_client_data: Dict[Tuple[Any, Any], Dict[str, str]] = {}
_MAX_CACHED = 256
_code_names: Dict[int, str] = {}


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def split_target(target: str) -> Tuple[Optional[str], Optional[str]]:
    """(host, port) of a channel target or ``:authority``: ``host:port``, ``dns:///host:port``,
    ``ipv4:10.0.0.1:50051``, ``[::1]:50051``; (None, None) for Unix sockets."""
    if target.startswith(("unix:", "unix-abstract:", "vsock:")):
        return None, None
    if "://" in target:  # dns://[authority]/host:port
        target = target.partition("://")[2].rpartition("/")[2]
    elif target.startswith(("dns:", "ipv4:", "ipv6:")):
        target = target.partition(":")[2].partition(",")[0]
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host or None, rest[1:] if rest.startswith(":") and rest[1:] else None
    if target.count(":") == 1:
        host, _, port = target.partition(":")
        return host or None, port or None
    return target or None, None


def _address(data: Dict[str, str], target: str) -> None:
    host, port = split_target(target)
    if host:
        data["host"] = host
    if port:
        data["port"] = port


def _data_of(multicallable: Any) -> Dict[str, str]:
    target = multicallable._channel.target  # a method of sync channels, bytes on aio ones
    key = (target() if callable(target) else target, multicallable._method)
    data = _client_data.get(key)
    if data is None:
        data = {"flavor": "grpc", "call": _text(key[1])}
        _address(data, _text(key[0]))
        if len(_client_data) >= _MAX_CACHED:
            _client_data.clear()
        _client_data[key] = data
    return data


# --------------------------------------------------------------------------- client


def start(call: Call) -> StartResult:
    multicallable = call.args[0]
    if not call.recording:
        return CLIENT_SPAN, None, ERROR_PATH
    rpc = dict(_data_of(multicallable))
    rpc["call_type"] = UNARY if type(multicallable).__name__ in _UNARY_CALLABLES else STREAM
    return CLIENT_SPAN, {"rpc": rpc}, ERROR_PATH


def inject(call: Call) -> None:
    """A copy of the call's metadata (a tuple, or the caller's aio ``Metadata`` type) with our
    context; trace keys the caller copied from elsewhere are replaced."""
    args = call.args
    positional = len(args) > _METADATA_AT
    given = args[_METADATA_AT] if positional else call.kwargs.get("metadata")
    pairs: List[Tuple[Any, Any]] = (
        [
            (key, value)
            for key, value in given
            if not (isinstance(key, str) and key.lower() in CONTEXT_HEADERS)
        ]
        if given
        else []
    )
    for name, value in context_headers(call.span).items():
        pairs.append((name.lower(), value))
    from_tuple = getattr(type(given), "from_tuple", None)
    metadata = from_tuple(tuple(pairs)) if from_tuple is not None else tuple(pairs)
    if positional:
        call.args = (*args[:_METADATA_AT], metadata, *args[_METADATA_AT + 1 :])
    else:
        call.kwargs = {**call.kwargs, "metadata": metadata}


def _code_name(code: Any) -> str:
    """``NOT_FOUND`` for a ``grpc.StatusCode`` or the core's integer code."""
    name = getattr(code, "name", None)
    if isinstance(name, str):
        return name
    if not _code_names:
        grpc = sys.modules.get("grpc")
        for member in getattr(grpc, "StatusCode", ()):
            _code_names[member.value[0]] = member.name
    return _code_names.get(code, str(code)) if isinstance(code, int) else str(code)


def _status_text(code: Any, details: Any) -> Optional[str]:
    """``"<CODE>: <details>"`` for a non-OK status, None for OK (or no status yet)."""
    if code is None:
        return None
    name = _code_name(code)
    if name == "OK":
        return None
    return f"{name}: {_text(details)}" if details else name


def _rpc_outcome(rpc: Any, kind: Any) -> Optional[str]:
    """The error of a terminated RPC, None when it succeeded or the client cancelled it.

    Sync: ``rpc`` is the call's ``_RPCState`` and ``kind`` the name of the RPC object the user
    holds (which is what a failed call raises); aio: ``rpc`` is the ``grpc.aio`` call."""
    if kind != _AIO_RPC:
        if rpc.cancelled:
            return None
        text = _status_text(rpc.code, rpc.details)
        return f"{kind}: {text}" if text else None
    if rpc.cancelled():
        return None
    # grpc.aio: code() is a coroutine; the terminated core call holds the status
    task = getattr(rpc, "_interceptors_task", None)  # an intercepted call wraps the real one
    if task is not None:
        rpc = task.result()
    status = rpc._cython_call._status
    text = _status_text(status.code(), status.details())
    return f"AioRpcError: {text}" if text else None


def end(call: Call, result: Any, exc: Optional[BaseException]) -> None:
    span = call.span
    if exc is not None:
        code = getattr(exc, "code", None)
        details = getattr(exc, "details", None)
        if callable(code) and callable(details):
            text = _status_text(code(), details())
            if text:  # "<type>: <CODE>: <details>", not the multi-line repr of the RPC
                span.data.setdefault("rpc", {})["error"] = f"{type(exc).__name__}: {text}"[
                    :MAX_ERROR_LENGTH
                ]
        return
    if call.state is not None and result is not None:
        error = _rpc_outcome(result, call.state)
        if error is not None:
            span.mark_error(error)


# The span of a sync RPC that goes on after its call returned, kept on the RPC's state object
# until the channel's event handler sees the status arrive.
_PENDING = "_instana_pending_call"


def _finish_pending(entry: Entry, state: Any) -> None:
    """End the span waiting on ``state`` once its status is in; exactly once (dict.pop)."""
    if state.code is None:
        return
    call = state.__dict__.pop(_PENDING, None)
    if call is not None:
        _wrap.finish(entry, end, call, state, None)


def _handling_events(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    """grpc._channel._handle_event, which updates an RPC's state under its lock: the span ends
    there, before any thread waiting for the RPC (``result()``, the end of a response stream)
    wakes up, so the span is finished when the caller's code goes on (and is flushed with
    its invocation). A done callback would run only after the waiters were woken."""

    def handle_event(event: Any, state: Any, *rest: Any) -> Any:
        callbacks = original(event, state, *rest)
        if _PENDING in getattr(state, "__dict__", ()):
            _finish_pending(entry, state)
        return callbacks

    return handle_event


def _ending_with_the_rpc(kind: int) -> Callable[[Entry, Callable[..., Any]], Any]:
    """A wrapper for calls that return an RPC object (future, response stream, aio call): the
    span starts here and ends when the RPC terminates."""

    def make(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
        def traced(*args: Any, **kwargs: Any) -> Any:
            call = _wrap.begin(entry, start, inject, args, kwargs)
            if call is None:
                return original(*args, **kwargs)
            call.state = kind
            try:
                rpc = original(*call.args, **call.kwargs)
            except BaseException as exc:
                _wrap.finish(entry, end, call, None, exc)
                raise
            _wrap.deactivate(call)
            try:
                if kind == _AIO_RPC:
                    # aio runs done callbacks as the status arrives, before the awaiting
                    # coroutine resumes
                    rpc.add_done_callback(
                        lambda terminated: _wrap.finish(entry, end, call, terminated, None)
                    )
                else:
                    call.state = type(rpc).__name__
                    state = rpc._state
                    state.__dict__[_PENDING] = call
                    _finish_pending(entry, state)  # it may have ended already
            except Exception:
                tracer_bug("waiting for a gRPC call to end")
                _wrap.finish(entry, end, call, None, None)
            return rpc

        return traced

    return make


# --------------------------------------------------------------------------- server


def _served_status(context: Any) -> Optional[str]:
    """The non-OK status the handler set on its context (abort, set_code), if any."""
    code = getattr(context, "code", None)
    if not callable(code):
        return None
    details = getattr(context, "details", None)
    return _status_text(code(), details() if callable(details) else None)


def _open(method: Any, metadata: Any, call_type: str, context: Any) -> Optional[Invocation]:
    try:
        carrier = {}
        for item in metadata or ():
            key = item[0]
            if key in _WANTED:
                carrier[key] = _text(item[1])
        rpc: Dict[str, str] = {"flavor": "grpc", "call": _text(method), "call_type": call_type}
        authority = getattr(
            getattr(getattr(context, "_rpc_event", None), "call_details", None), "host", None
        )
        if authority:
            _address(rpc, _text(authority))
        return open_entry(SERVER_SPAN, carrier, data={"rpc": rpc}, error_path=ERROR_PATH)
    except Exception:
        tracer_bug("opening a gRPC server entry")
        return None


def _close(invocation: Invocation, context: Any, exc: Optional[BaseException]) -> None:
    """Mark the entry with the call's status (or the escaping exception), end it, send it."""
    try:
        span = invocation.span
        if span.recording and not span.finished:
            status = _served_status(context)
            if status is not None:
                span.mark_error(status)
                exc = None  # abort()'s bare exception says less than the status it set
    except Exception:
        tracer_bug("reading a gRPC call's status")
    try:
        invocation.end(exc)
    except Exception:
        tracer_bug("ending a gRPC server entry")


async def _close_async(invocation: Invocation, context: Any, exc: Optional[BaseException]) -> None:
    """``_close`` on an event loop: a blocking send (the platform's rule) runs off the loop."""
    sends = invocation.flush
    invocation.flush = False
    _close(invocation, context, exc)
    if sends and invocation.span.recording:
        await work_done_async(invocation.client)


class _ServedStream:
    """A sync handler's response iterator: the entry is active while each response is made and
    ends with the stream."""

    __slots__ = ("_context", "_invocation", "_iterator")

    def __init__(self, invocation: Invocation, context: Any, iterator: Any) -> None:
        self._invocation = invocation
        self._context = context
        self._iterator = iter(iterator)

    def __iter__(self) -> _ServedStream:
        return self

    def __next__(self) -> Any:
        token = activate(self._invocation.span)
        try:
            item = next(self._iterator)
        except StopIteration:
            restore(token)
            _close(self._invocation, self._context, None)
            raise
        except BaseException as exc:
            restore(token)
            _close(self._invocation, self._context, exc)
            raise
        restore(token)
        return item


def _sync_behavior(
    behavior: Callable[..., Any], method: Any, metadata: Any, call_type: str, streams: bool
) -> Callable[..., Any]:
    def served(request: Any, context: Any, *more: Any) -> Any:
        invocation = _open(method, metadata, call_type, context)
        if invocation is None:
            return behavior(request, context, *more)
        token = activate(invocation.span)
        try:
            result = behavior(request, context, *more)
        except BaseException as exc:
            restore(token)
            _close(invocation, context, exc)
            raise
        restore(token)
        if not streams or result is None:
            _close(invocation, context, None)
            return result
        try:
            # the call may end without the stream being read to its end (cancelled, deadline)
            context.add_callback(lambda: _close(invocation, context, None))
            return _ServedStream(invocation, context, result)
        except Exception:
            tracer_bug("following a gRPC response stream")
            _close(invocation, context, None)
            return result

    return served


def _async_behavior(
    behavior: Callable[..., Any], method: Any, metadata: Any, call_type: str
) -> Callable[..., Any]:
    async def served(request: Any, context: Any) -> Any:
        invocation = _open(method, metadata, call_type, context)
        if invocation is None:
            return await behavior(request, context)
        token = activate(invocation.span)
        try:
            result = await behavior(request, context)
        except BaseException as exc:
            restore(token)
            await _close_async(invocation, context, exc)
            raise
        restore(token)
        await _close_async(invocation, context, None)
        return result

    return served


def _async_stream_behavior(
    behavior: Callable[..., Any], method: Any, metadata: Any, call_type: str
) -> Callable[..., Any]:
    async def served(request: Any, context: Any) -> Any:
        invocation = _open(method, metadata, call_type, context)
        if invocation is None:
            async for item in behavior(request, context):
                yield item
            return
        token = activate(invocation.span)
        try:
            async for item in behavior(request, context):
                yield item
        except BaseException as exc:
            restore(token)
            await _close_async(invocation, context, exc)
            raise
        restore(token)
        await _close_async(invocation, context, None)

    return served


def _handler_kind(handler: Any) -> Tuple[str, str]:
    """(the handler's behavior attribute, call_type)."""
    if handler.request_streaming:
        return ("stream_stream" if handler.response_streaming else "stream_unary"), STREAM
    if handler.response_streaming:
        return "unary_stream", STREAM
    return "unary_unary", UNARY


def traced_handler(handler: Any, details: Any) -> Any:
    """``handler`` (an ``RpcMethodHandler``) with its behavior run inside an entry span."""
    replace = getattr(handler, "_replace", None)
    if replace is None:
        return handler  # not grpc's namedtuple: leave it alone
    attr, call_type = _handler_kind(handler)
    behavior = getattr(handler, attr)
    if behavior is None:
        return handler
    method, metadata = details.method, details.invocation_metadata
    flags = getattr(getattr(behavior, "__code__", None), "co_flags", 0)
    if flags & _CO_ASYNC_GENERATOR:
        served = _async_stream_behavior(behavior, method, metadata, call_type)
    elif _wrap.is_coroutine_function(behavior):
        served = _async_behavior(behavior, method, metadata, call_type)
    else:
        served = _sync_behavior(behavior, method, metadata, call_type, handler.response_streaming)
    return replace(**{attr: served})


def _interceptor(entry: Entry, base: type, is_live: Callable[[], bool], aio: bool) -> Any:
    """One instance of a ``ServerInterceptor`` subclass (grpc checks the type) of ours."""

    def wrapped(handler: Any, details: Any) -> Any:
        if handler is None or not is_live() or not enabled(entry):
            return handler
        try:
            return traced_handler(handler, details)
        except Exception:
            tracer_bug("tracing a gRPC handler")
            return handler

    def intercept_service(self: Any, continuation: Any, details: Any) -> Any:
        return wrapped(continuation(details), details)

    async def intercept_service_async(self: Any, continuation: Any, details: Any) -> Any:
        return wrapped(await continuation(details), details)

    method = intercept_service_async if aio else intercept_service
    cls = type("InstanaServerInterceptor", (base,), {"intercept_service": method})
    return cls()


# Server(thread_pool, generic_handlers, interceptors, ...) in both grpc._server and grpc.aio
_INTERCEPTORS_AT = 3


def _serving(interceptor_module: str, aio: bool) -> Callable[[Entry, Callable[..., Any]], Any]:
    """A server ``__init__`` that puts our interceptor in front of the user's."""

    def make(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
        made: List[Any] = []
        owner_module, _, owner_name = f"{original.__module__}.{original.__qualname__}".rpartition(
            "."
        )[0].rpartition(".")

        def __init__(*args: Any, **kwargs: Any) -> Any:
            try:
                if not made:
                    base = sys.modules[interceptor_module].ServerInterceptor
                    made.append(_interceptor(entry, base, is_live, aio))
                ours = made[0]
                if len(args) > _INTERCEPTORS_AT:
                    theirs = tuple(args[_INTERCEPTORS_AT] or ())
                    args = (
                        *args[:_INTERCEPTORS_AT],
                        (ours, *theirs),
                        *args[_INTERCEPTORS_AT + 1 :],
                    )
                else:
                    kwargs = {**kwargs, "interceptors": (ours, *(kwargs.get("interceptors") or ()))}
            except Exception:
                tracer_bug("adding the gRPC server interceptor")
            return original(*args, **kwargs)

        def is_live() -> bool:
            """Still instrumented: ``uninstrument()`` silences servers built before it."""
            owner = getattr(sys.modules.get(owner_module), owner_name, None)
            return (
                owner is not None
                and getattr(owner.__dict__.get("__init__"), "__wrapped__", None) is original
            )

        return __init__

    return make


_sync_rpc = _ending_with_the_rpc(_SYNC_RPC)
_aio_rpc = _ending_with_the_rpc(_AIO_RPC)

PATCHES = {
    "grpc._channel": (
        Custom("", "_handle_event", _handling_events),
        Method("_UnaryUnaryMultiCallable", "__call__", start, end, inject),
        Method("_UnaryUnaryMultiCallable", "with_call", start, end, inject),
        Custom("_UnaryUnaryMultiCallable", "future", _sync_rpc),
        Custom("_UnaryStreamMultiCallable", "__call__", _sync_rpc),
        Custom("_SingleThreadedUnaryStreamMultiCallable", "__call__", _sync_rpc),
        Method("_StreamUnaryMultiCallable", "__call__", start, end, inject),
        Method("_StreamUnaryMultiCallable", "with_call", start, end, inject),
        Custom("_StreamUnaryMultiCallable", "future", _sync_rpc),
        Custom("_StreamStreamMultiCallable", "__call__", _sync_rpc),
    ),
    "grpc._server": (Custom("_Server", "__init__", _serving("grpc", aio=False)),),
    "grpc.aio._channel": (
        Custom("UnaryUnaryMultiCallable", "__call__", _aio_rpc),
        Custom("UnaryStreamMultiCallable", "__call__", _aio_rpc),
        Custom("StreamUnaryMultiCallable", "__call__", _aio_rpc),
        Custom("StreamStreamMultiCallable", "__call__", _aio_rpc),
    ),
    "grpc.aio._server": (Custom("Server", "__init__", _serving("grpc.aio", aio=True)),),
}
