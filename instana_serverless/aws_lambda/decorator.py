"""``@lambda_handler``: one ``aws.lambda.entry`` span per invocation, sent in that invocation.

The work per invocation is: read the context (cached ARN), detect the trigger, summarize it,
extract the incoming context, start the span, arm the timeout guard; after the handler: status
and Server-Timing for HTTP triggers, disarm, end, and then either hand the invocation over to
the Lambda extension (which sends after the response, see ``extension``) or flush before
returning. Every step of ours is guarded: if it fails, the user's handler still runs exactly
as without us.
"""

from __future__ import annotations

import functools
import weakref
from types import CoroutineType

from .. import log
from ..client import Client, after_configure, get_client
from ..http_data import add_server_timing, record_entry_status, server_timing_value
from ..invocation import Invocation
from ..propagation import extract
from ..span import Span
from ..wrapping import on_wrap
from . import context as lambda_context
from . import extension as lambda_extension
from . import ssm
from .plugin import lambda_plugin
from .timeout_guard import Armed, guard
from .triggers import Trigger, detect, summarize

# typing costs a Lambda cold start ~2 ms that the runtime itself does not pay: only the type
# checker sees it (and the overloads below).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import (
        Any,
        Callable,
        Coroutine,
        Dict,
        List,
        Mapping,
        Optional,
        Tuple,
        TypeVar,
        overload,
    )

    R = TypeVar("R")


SPAN_NAME = "aws.lambda.entry"
ERROR_PATH = ("lambda",)

# The client whose source and host id were set, and for which ARN (set again when either changes).
_announced: Tuple[Optional[weakref.ref[Client]], str] = (None, "")
_loop: Any = None


if TYPE_CHECKING:
    # An ``async def`` handler becomes a plain one returning what the coroutine returns.
    @overload
    def lambda_handler(
        func: Callable[[Any, Any], Coroutine[Any, Any, R]],
    ) -> Callable[[Any, Any], R]: ...

    @overload
    def lambda_handler(func: Callable[[Any, Any], R]) -> Callable[[Any, Any], R]: ...


def lambda_handler(func: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Trace every invocation of the Lambda handler ``func`` (sync or ``async def``).

    An ``async def`` handler is run to completion on one event loop kept for the sandbox, as
    the Lambda Python runtime only calls plain functions. Exceptions from ``func`` are recorded
    and re-raised unchanged.
    """
    name = f"{getattr(func, '__module__', None)}.{getattr(func, '__name__', None)}"
    return wrap(func, name)


def wrap(func: Callable[[Any, Any], Any], served_as: str) -> Callable[[Any, Any], Any]:
    """``lambda_handler`` for ``func``, which the runtime knows as ``served_as``
    (``module.function``, as in the handler setting): if that is the function's handler, its
    invocations are sent after the response by the Lambda extension."""
    # Registered before ``on_wrap`` starts the background prewarm: while that thread imports
    # and connects it holds the GIL for milliseconds at a time, and every hand-back during the
    # registration's round trip would wait for it (measured: 5-20 ms of init instead of ~1).
    try:
        sender = lambda_extension.start_for(served_as, get_client())
    except Exception as exc:
        log.logger().debug("Lambda extension not started: %r", exc)
        sender = None
    # The agent key from SSM, when that is where it lives: fetched on a thread of its own
    # while the init goes on (and again for a client a later configure() builds).
    after_configure(ssm.fetch_for)
    ssm.start_for(get_client())
    on_wrap()

    if sender is None:

        @functools.wraps(func)
        def wrapper(event: Any, context: Any) -> Any:
            client = get_client()
            if not client.tracing:
                return _call(func, event, context)
            return _traced(client, func, event, context, True)

        return wrapper

    extension = sender

    @functools.wraps(func)
    def handing_over(event: Any, context: Any) -> Any:
        client = get_client()
        traced = client.tracing
        try:
            if not traced:
                return _call(func, event, context)
            return _traced(client, func, event, context, False)
        finally:
            # Always, traced or not: the extension holds the sandbox open until it hears.
            if not extension.hand_over(lambda_context.request_id(context)) and traced:
                client.flush()

    return handing_over


def _call(func: Callable[..., Any], event: Any, context: Any) -> Any:
    result = func(event, context)
    if isinstance(result, CoroutineType):
        return run_coroutine(result)
    return result


def run_coroutine(coro: Any) -> Any:
    """Run ``coro`` to completion on the sandbox's event loop (kept across invocations, so
    clients bound to it, such as aiohttp sessions, survive)."""
    global _loop
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return _run_in_thread(coro)
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(coro)


def _run_in_thread(coro: Any) -> Any:
    """Called from inside a running loop (a test, a local server): a loop of its own in a
    worker thread, with the caller's context so the entry span stays active."""
    import asyncio
    import contextvars
    from threading import Thread

    outcome: List[Any] = []
    copied = contextvars.copy_context()

    def target() -> None:
        try:
            outcome.append((True, copied.run(asyncio.run, coro)))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = Thread(target=target, name="instana-lambda-async")
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def _traced(client: Client, func: Callable[..., Any], event: Any, context: Any, flush: bool) -> Any:
    try:
        span, trigger = _begin(client, event, context)
    except Exception as exc:
        log.logger().debug("could not start the Lambda entry span: %r", exc)
        return _call(func, event, context)
    invocation = Invocation(client, span, flush=flush)
    armed = _arm(client, invocation, span, context)
    with invocation:
        try:
            result = _call(func, event, context)
            if trigger.http:
                _on_http_result(span, trigger, result)
        finally:
            if armed is not None:
                guard().disarm(armed)
    return result


def _begin(client: Client, event: Any, context: Any) -> Tuple[Span, Trigger]:
    info = lambda_context.function_info(context)
    cold = lambda_context.take_cold_start()
    _announce(client, info, cold)
    trigger = detect(event)
    details: Dict[str, Any] = {
        "arn": info.arn,
        "runtime": "python",
        "functionName": info.function_name,
        "functionVersion": info.function_version,
        "coldStart": cold,
        "trigger": trigger.name,
    }
    if info.alias is not None:
        details["alias"] = info.alias
    request_id = lambda_context.request_id(context)
    if request_id is not None:
        details["reqId"] = request_id
    data: Dict[str, Any] = {"lambda": details}
    sources: List[Mapping[str, Any]] = []
    custom = lambda_context.client_context_custom(context)
    if custom is not None:
        sources.append(custom)
    sources.extend(summarize(trigger, event, data, client.config))
    w3c = lambda_context.client_context_w3c(context)
    if w3c is not None:
        sources.append(w3c)
    incoming = extract(*sources, w3c_correlation=client.w3c_correlation) if sources else None
    return client.start_entry(SPAN_NAME, incoming, data=data, error_path=ERROR_PATH), trigger


def _announce(client: Client, info: lambda_context.FunctionInfo, cold: bool) -> None:
    """Tell the reporter who we are: once per client and ARN; the plugin once per sandbox."""
    global _announced
    ref, arn = _announced
    if ref is None or ref() is not client or arn != info.arn:
        client.set_source("aws", info.arn)
        client.set_host_id(info.arn)
        _announced = (weakref.ref(client), info.arn)
    if cold:
        client.reporter.add_plugin_once(lambda_plugin(info))


def _arm(client: Client, invocation: Invocation, span: Span, context: Any) -> Optional[Armed]:
    try:
        margin = client.config.timeout_margin_ms
        if margin <= 0 or not span.recording:
            return None
        left = lambda_context.remaining_ms(context)
        # Below twice the margin the report would cut a short invocation in half.
        if left is None or left < 2 * margin:
            return None

        def report() -> None:
            if span.finished:
                return
            ms_left = lambda_context.remaining_ms(context)
            ms_left = 0 if ms_left is None else ms_left
            span.data["lambda"]["msleft"] = ms_left
            span.mark_error(
                f"The Lambda function was still running {ms_left} ms before its deadline "
                "and is about to time out"
            )
            invocation.end()
            if not invocation.flush:
                # Lambda is about to kill the sandbox: no time to wait for the extension.
                client.flush()

        return guard().arm((left - margin) / 1000.0, lambda_context.request_id(context), report)
    except Exception as exc:
        log.logger().debug("timeout guard not armed: %r", exc)
        return None


def _on_http_result(span: Span, trigger: Trigger, result: Any) -> None:
    """Status from the result (5xx marks the span) and Server-Timing on its headers."""
    if span.finished:  # the timeout guard reported it already
        return
    try:
        if not isinstance(result, dict):
            if trigger.default_status is not None:
                record_entry_status(span, trigger.default_status)
            return
        status = result.get("statusCode")
        if status is None:
            status = trigger.default_status
        if status is not None:
            record_entry_status(span, status)
        if not span.recording:
            return
        headers = result.get("headers")
        multi = result.get("multiValueHeaders")
        if isinstance(multi, dict) and not isinstance(headers, dict):
            _add_multi_value_server_timing(multi, span)
        elif isinstance(headers, dict):
            add_server_timing(headers, span)
    except Exception as exc:
        log.logger().debug("could not read the handler's HTTP result: %r", exc)


def _add_multi_value_server_timing(headers: Dict[str, Any], span: Span) -> None:
    """ALB multi-value mode and REST ``multiValueHeaders``: values are lists."""
    value = server_timing_value(span)
    for name, existing in headers.items():
        if isinstance(name, str) and name.lower() == "server-timing":
            if isinstance(existing, list) and not any("intid;" in str(v) for v in existing):
                existing.append(value)
            return
    headers["Server-Timing"] = [value]


def _reset_for_tests() -> None:
    global _announced
    _announced = (None, "")
    lambda_context._reset_for_tests()
    lambda_extension._reset_for_tests()
