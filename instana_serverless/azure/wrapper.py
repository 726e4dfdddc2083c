"""``@azure_function``: an ``azf`` entry span around each invocation of a v2-model function.

The worker indexes a function by its signature (binding parameter names, annotations, whether
it takes ``context``) and calls it with keyword arguments, awaiting it when
``inspect.iscoroutinefunction`` says so. The wrapper therefore keeps the signature (through
``functools.wraps``) and is ``async def`` exactly when the user's function is.
"""

from __future__ import annotations

import functools
import inspect
import sys
from itertools import chain
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from .. import log
from ..client import Client, get_client
from ..http_data import add_server_timing, record_entry_status
from ..invocation import Invocation
from ..propagation import extract
from ..span import Span
from ..wrapping import on_wrap
from . import setup
from .triggers import (
    HTTP,
    find_trigger,
    http_data,
    message_context,
    request_headers,
    trace_context_map,
    trigger_name,
)

F = TypeVar("F", bound=Callable[..., Any])

SPAN_NAME = "azf"
ERROR_PATH = ("azf",)
CONTEXT_PARAM = "context"
# Set on every wrapper: lets a second pass (instrument_function_app) find and enrich it.
MARK = "__instana_azure__"

_MISSING = object()


class FunctionTarget:
    """What is known about one function; ``instrument_function_app`` adds its bindings."""

    __slots__ = (
        "binding",
        "context_index",
        "function_name",
        "method_name",
        "params",
        "route",
        "trigger_index",
        "trigger_param",
    )

    def __init__(self, func: Callable[..., Any]) -> None:
        self.method_name: str = str(getattr(func, "__name__", None) or type(func).__name__)
        self.function_name: Optional[str] = None
        self.binding: Optional[str] = None
        self.trigger_param: Optional[str] = None
        self.trigger_index: Optional[int] = None
        self.route: Optional[str] = None
        try:
            self.params: List[str] = list(inspect.signature(func).parameters)
        except (TypeError, ValueError):
            self.params = []
        self.context_index = self._index(CONTEXT_PARAM)

    def _index(self, name: Optional[str]) -> Optional[int]:
        try:
            return self.params.index(name) if name else None
        except ValueError:
            return None

    def set_bindings(
        self,
        *,
        binding: Optional[str],
        trigger_param: Optional[str],
        function_name: Optional[str],
        route: Optional[str],
    ) -> None:
        self.binding = binding
        self.trigger_param = trigger_param
        self.trigger_index = self._index(trigger_param)
        self.function_name = function_name
        self.route = route


def _argument(
    args: Tuple[Any, ...], kwargs: Dict[str, Any], name: str, index: Optional[int]
) -> Any:
    value = kwargs.get(name, _MISSING)
    if value is _MISSING:
        value = args[index] if index is not None and index < len(args) else None
    return value


def _start(target: FunctionTarget, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """(client, span, binding) for a traced invocation, or None to just call the function."""
    client = get_client()
    if not client.tracing:
        return None
    identity = setup.identity_for(client)
    context = _argument(args, kwargs, CONTEXT_PARAM, target.context_index)
    binding = target.binding
    value: Any = None
    if binding is not None and target.trigger_param is not None:
        value = _argument(args, kwargs, target.trigger_param, target.trigger_index)
    else:
        binding, value = find_trigger(chain(kwargs.values(), args))

    azf: Dict[str, Any] = {"runtime": "python", "methodname": target.method_name}
    if identity.app_name:
        azf["name"] = identity.app_name
    function_name = target.function_name or getattr(context, "function_name", None)
    azf["functionname"] = function_name if isinstance(function_name, str) else target.method_name
    name = trigger_name(binding)
    if name:
        azf["triggername"] = name
    data: Dict[str, Any] = {"azf": azf}

    headers = None
    if binding == HTTP and value is not None:
        headers = request_headers(value)
        data["http"] = http_data(value, headers, client.config, target.route)
    incoming = extract(
        headers,
        message_context(binding, value),
        trace_context_map(context),
        w3c_correlation=client.w3c_correlation,
    )
    span = client.start_entry(SPAN_NAME, incoming, data=data, error_path=ERROR_PATH)
    return client, span, binding


def _start_guarded(target: FunctionTarget, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    try:
        return _start(target, args, kwargs)
    except Exception as exc:  # a tracer bug must never stop the user's function
        log.logger().debug("azure: invocation not traced: %r", exc)
        return None


def _record_result(span: Span, binding: Optional[str], result: Any) -> None:
    if binding != HTTP or result is None:
        return
    try:
        status = getattr(result, "status_code", None)
        if status is None:
            return
        record_entry_status(span, status)
        headers: Any = getattr(result, "headers", None)
        if headers is not None and span.recording:
            add_server_timing(headers, span)
    except Exception as exc:
        log.logger().debug("azure: response not recorded: %r", exc)


def _flush(client: Client, span: Span) -> None:
    if span.recording:
        try:
            client.flush()
        except Exception as exc:
            log.logger().debug("azure: flush failed: %r", exc)


async def _flush_async(client: Client, span: Span) -> None:
    """Flush on a worker thread: a slow backend must not stall the other invocations that
    share the worker's event loop. Still awaited, so the spans leave before the return."""
    if not span.recording:
        return
    try:
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, client.flush)
    except Exception as exc:  # no usable executor (e.g. shutting down): flush right here
        log.logger().debug("azure: executor flush failed, flushing inline: %r", exc)
        _flush(client, span)


def _wrap_sync(func: Callable[..., Any], target: FunctionTarget) -> Callable[..., Any]:
    @functools.wraps(func)
    def instana_azure_wrapper(*args: Any, **kwargs: Any) -> Any:
        started = _start_guarded(target, args, kwargs)
        if started is None:
            return func(*args, **kwargs)
        client, span, binding = started
        try:
            with Invocation(client, span, flush=False):
                result = func(*args, **kwargs)
                _record_result(span, binding, result)
        finally:
            _flush(client, span)
        return result

    return instana_azure_wrapper


def _wrap_async(func: Callable[..., Any], target: FunctionTarget) -> Callable[..., Any]:
    @functools.wraps(func)
    async def instana_azure_wrapper(*args: Any, **kwargs: Any) -> Any:
        started = _start_guarded(target, args, kwargs)
        if started is None:
            return await func(*args, **kwargs)
        client, span, binding = started
        try:
            with Invocation(client, span, flush=False):
                result = await func(*args, **kwargs)
                _record_result(span, binding, result)
        finally:
            await _flush_async(client, span)
        return result

    return instana_azure_wrapper


def _line_table_of_one_line(code: Any) -> Dict[str, Any]:
    """The line table putting every instruction of ``code`` on its first line (without
    columns where there are any), in the format of the running Python; for a Python whose
    format we do not know, nothing (its lines stay relative to the first line, just spread)."""
    size = len(code.co_code)
    table = bytearray()
    if sys.version_info >= (3, 15):
        return {}
    if sys.version_info >= (3, 11):
        # Entries of "no column info" (kind 13) for up to 8 code units, line delta 0.
        units = size // 2
        while units > 0:
            length = min(units, 8)
            table += bytes((0x80 | (13 << 3) | (length - 1), 0))
            units -= length
        return {"co_linetable": bytes(table)}
    if sys.version_info >= (3, 10):
        # (bytecode delta, line delta) pairs, up to 254 bytes each.
        while size > 0:
            length = min(size, 254)
            table += bytes((length, 0))
            size -= length
        return {"co_linetable": bytes(table)}
    return {"co_lnotab": b""}  # 3.9: no entries, every instruction on the first line


def _relocate(wrapper: Any, func: Any) -> None:
    """Make the wrapper's code come from where the user's function is defined.

    The worker takes a function's folder (``context.function_directory``) from the file its
    code is in (``inspect.getfile``, which does not follow ``__wrapped__``): without this it
    would be our package's folder, and user code reading files next to its function would
    break once traced. A traceback through the wrapper then points at the user's function
    (its first line) instead of at a line of ours shown from the user's file.
    """
    code = getattr(func, "__code__", None)
    own = getattr(wrapper, "__code__", None)
    if code is None or own is None:
        return
    try:
        wrapper.__code__ = own.replace(
            co_filename=code.co_filename,
            co_firstlineno=code.co_firstlineno,
            **_line_table_of_one_line(own),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        log.logger().debug("azure: wrapper of %r not relocated: %r", func, exc)


def target_of(func: Any) -> Optional[FunctionTarget]:
    target = getattr(func, MARK, None)
    return target if isinstance(target, FunctionTarget) else None


def wrap_function(func: F) -> F:
    """``func`` traced; already-wrapped functions and generators are returned unchanged."""
    if target_of(func) is not None or not callable(func):
        return func
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        # Not a trigger function shape the worker supports; nothing sensible to trace.
        return func
    target = FunctionTarget(func)
    on_wrap()
    if inspect.iscoroutinefunction(func):
        wrapper = _wrap_async(func, target)
    else:
        wrapper = _wrap_sync(func, target)
    _relocate(wrapper, func)
    setattr(wrapper, MARK, target)
    return wrapper  # type: ignore[return-value]


def _inner_function(builder: Any) -> Any:
    """The ``Function`` inside an ``azure.functions`` FunctionBuilder, or None."""
    function = getattr(builder, "_function", None)
    return function if callable(getattr(function, "get_user_function", None)) else None


def azure_function(func: F) -> F:
    """Trace every invocation of an Azure Functions (v2 model) function.

    Place it under the ``FunctionApp`` decorators::

        @app.route(route="orders")
        @instana.azure_function
        def orders(req: func.HttpRequest, context: func.Context) -> func.HttpResponse: ...

    Placed above them by mistake, it instruments the function the app already registered.
    The trigger is recognised from the arguments of each call; ``instrument_function_app``
    also knows the declared bindings (needed for triggers delivered as ``str``/``bytes``).
    """
    function = _inner_function(func)
    if function is not None:
        try:
            function._func = wrap_function(function.get_user_function())
        except Exception as exc:
            log.logger().debug("azure: function builder not instrumented: %r", exc)
        return func
    return wrap_function(func)
