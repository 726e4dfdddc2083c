"""aiohttp's web server: the entry span of each request (``aiohttp-server``, as the official
sensor names it) when nothing of ours serves it yet, the matched resource's canonical path as
the route template, and the request's failure with its message.

Unlike WSGI and ASGI apps, an aiohttp application cannot be put inside our middleware, so this
row opens the entry itself (continuing the request's Instana/W3C context, sent by the
platform's send rule, off the event loop, before the response is handed back); inside an entry
that is already active it only enriches it, like the other framework rows.
"""

from __future__ import annotations

import sys

from ..client import get_client
from ..http_data import (
    http_entry_data,
    record_entry_status,
    server_timing_value,
)
from ..propagation import CONTEXT_HEADERS, extract
from ..sending import work_done_async
from ..tracer import activate, current_span, restore
from ._common import tracer_bug
from ._framework import entry_for, observe, set_error, set_route
from ._patches import Custom

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional, Tuple

    from ..span import Span
    from .registry import Entry

SPAN_NAME = "aiohttp-server"


def resolved(span: Span, args: Tuple[Any, ...], result: Any) -> None:
    """``UrlDispatcher.resolve``: the match's resource, ``/users/{user_id}``; None for a 404."""
    resource = getattr(getattr(result, "route", None), "resource", None)
    if resource is not None:
        set_route(span, getattr(resource, "canonical", None))


def _http_exception(exc: BaseException) -> Optional[int]:
    """The status of one of aiohttp's HTTP exceptions (raised as answers), else None."""
    web_exceptions = sys.modules.get("aiohttp.web_exceptions")
    if web_exceptions is None or not isinstance(exc, web_exceptions.HTTPException):
        return None
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _failure(span: Span, exc: BaseException) -> int:
    """Record what ``exc`` means for the request; the status it is answered with."""
    status = _http_exception(exc)
    if status is None:
        set_error(span, exc)
        return 500
    if status >= 500:
        exc_any: Any = exc
        text = exc_any.text if isinstance(exc_any.text, str) else ""
        message = f"{status} {exc_any.reason}"
        if text and text != f"{status}: {exc_any.reason}":
            message = f"{message}: {text}"
        set_error(span, message)
    return status


def _start(row: Entry, request: Any) -> Optional[Span]:
    """The entry span of ``request``, or None to serve it untraced."""
    if current_span() is not None:
        return None  # inside something else of ours that is not an entry: never nest
    guarded = _guard_without_parent(row)
    if guarded is None:
        return None
    client = get_client()
    config = client.config
    headers = request.headers
    carrier: Dict[str, Any] = {}
    for name in CONTEXT_HEADERS:
        value = headers.get(name)
        if value is not None:
            carrier[name] = value
    captured: Optional[Dict[str, Any]] = None
    if config.extra_http_headers:
        captured = {}
        for name in config.extra_http_headers:
            value = headers.get(name)
            if value is not None:
                captured[name] = value
    incoming = extract(carrier, w3c_correlation=client.w3c_correlation) if carrier else None
    http = http_entry_data(
        config,
        method=request.method,
        url=request.path,
        path=request.path,
        query=request.query_string,
        headers=captured,
        host=request.host,
    )
    return client.start_entry(SPAN_NAME, incoming, data={"http": http}, error_path=("http",))


def _guard_without_parent(row: Entry) -> Optional[bool]:
    """The guard of ``_wrap`` for a request no span is active for: tracing on, row enabled."""
    client = get_client()
    if not client.tracing or not row.keys.isdisjoint(client.config.disabled_instrumentations):
        return None
    return True


def _server_timing(span: Span, response: Any) -> None:
    if span.recording and not getattr(response, "prepared", True):
        response.headers["Server-Timing"] = server_timing_value(span)


async def _finish(span: Span) -> None:
    """End the span, then send it by the platform's send rule, a blocking send off the event
    loop (the loop keeps serving), before the response is handed back."""
    span.finish()
    if span.recording:
        await work_done_async(get_client())


def handle(row: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    """``Application._handle(request)``: the whole of one request, middlewares included."""

    async def traced(self: Any, request: Any) -> Any:
        outer = entry_for(row)
        if outer is not None:
            try:
                return await original(self, request)
            except Exception as exc:
                try:
                    _failure(outer, exc)
                except Exception:
                    tracer_bug(f"{row.name} hook")
                raise
        try:
            span = _start(row, request)
        except Exception:
            tracer_bug(f"starting an {row.name} entry")
            span = None
        if span is None:
            return await original(self, request)
        token = activate(span)
        try:
            response = await original(self, request)
        except BaseException as exc:
            restore(token)
            try:
                status = _failure(span, exc) if isinstance(exc, Exception) else 500
                record_entry_status(span, status)
                if _http_exception(exc) is not None:
                    _server_timing(span, exc)
                await _finish(span)
            except Exception:
                tracer_bug(f"ending an {row.name} entry")
            raise
        restore(token)
        try:
            record_entry_status(span, getattr(response, "status", None))
            _server_timing(span, response)
            await _finish(span)
        except Exception:
            tracer_bug(f"ending an {row.name} entry")
        return response

    return traced


PATCHES = {
    "aiohttp.web_app": (Custom("Application", "_handle", handle),),
    "aiohttp.web_urldispatcher": (Custom("UrlDispatcher", "resolve", observe(after=resolved)),),
}
