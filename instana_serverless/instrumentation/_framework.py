"""What the web-framework rows share: they enrich the entry span already serving the request
(route template, the request's error) instead of opening a span of their own.

The entry is whatever our code opened for the request: the WSGI/ASGI middleware, the Lambda
decorator or layer (around Mangum, apig-wsgi, serverless-wsgi, aws-wsgi), the Azure wrapper,
``entry_span``, or the aiohttp server row itself. A framework module declares its hooks with
``observe`` (a ``Custom`` patch maker):

``before(span, args)``
    runs before the framework's own method (Starlette's matched ``Route.handle``);
``after(span, args, result)``
    runs after it returned (Flask's ``match_request``, Django's ``resolve_request``,
    aiohttp's ``UrlDispatcher.resolve``, the handlers that turn an exception into a 500);
``failed(span, args, exc)``
    runs when it raised (an exception no handler took, on its way to the server-error layer).

Each hook calls ``set_route`` / ``set_error`` here. The guard is the exits' guard: tracing on,
the row not disabled (checked per call), and an active, unfinished entry span; otherwise the
framework's method runs untouched. Our failures are logged at debug and never reach the app.
"""

from __future__ import annotations

from ..http_data import record_request_error
from ..span import ENTRY, describe_exception
from ..tracer import current_span
from ._common import tracer_bug
from ._wrap import _guard, is_coroutine_function

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Tuple

    from ..span import Span
    from .registry import Entry

    Before = Callable[["Span", Tuple[Any, ...]], None]
    After = Callable[["Span", Tuple[Any, ...], Any], None]
    Failed = Callable[["Span", Tuple[Any, ...], BaseException], None]

MAX_TEMPLATE_LENGTH = 500


def entry_for(row: Entry) -> Optional[Span]:
    """The entry span a framework hook of ``row`` enriches, or None to stay out of the way."""
    span = current_span()
    if span is None or span.kind != ENTRY or span.finished or not span.recording:
        return None
    if _guard(row) is None:
        return None
    return span


def set_route(span: Span, template: Any) -> None:
    """The framework's route template as ``data.http.path_tpl`` (it replaces API Gateway's
    ``/{proxy+}`` on Lambda: the framework knows the route the gateway only forwarded)."""
    if isinstance(template, str) and template:
        span.data.setdefault("http", {})["path_tpl"] = template[:MAX_TEMPLATE_LENGTH]


def set_error(span: Span, error: Any) -> None:
    """The request's failure: an exception (``Type: message``) or a framework's own message."""
    if isinstance(error, BaseException):
        error = describe_exception(error)
    if isinstance(error, str) and error:
        record_request_error(span, error)


def observe(
    *,
    before: Optional[Before] = None,
    after: Optional[After] = None,
    failed: Optional[Failed] = None,
) -> Callable[[Entry, Callable[..., Any]], Callable[..., Any]]:
    """A ``Custom`` maker: the framework's method, with ``before`` / ``after`` / ``failed`` run
    around it for the active entry (plain and ``async def`` methods alike)."""

    def make(row: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
        def run_before(span: Span, args: Tuple[Any, ...]) -> None:
            try:
                before(span, args)  # type: ignore[misc]
            except Exception:
                tracer_bug(f"{row.name} hook")

        def run_after(span: Span, args: Tuple[Any, ...], result: Any) -> None:
            try:
                after(span, args, result)  # type: ignore[misc]
            except Exception:
                tracer_bug(f"{row.name} hook")

        def run_failed(span: Span, args: Tuple[Any, ...], exc: BaseException) -> None:
            try:
                failed(span, args, exc)  # type: ignore[misc]
            except Exception:
                tracer_bug(f"{row.name} hook")

        if is_coroutine_function(original):

            async def observed_async(*args: Any, **kwargs: Any) -> Any:
                span = entry_for(row)
                if span is None:
                    return await original(*args, **kwargs)
                if before is not None:
                    run_before(span, args)
                try:
                    result = await original(*args, **kwargs)
                except Exception as exc:
                    if failed is not None:
                        run_failed(span, args, exc)
                    raise
                if after is not None:
                    run_after(span, args, result)
                return result

            return observed_async

        def observed(*args: Any, **kwargs: Any) -> Any:
            span = entry_for(row)
            if span is None:
                return original(*args, **kwargs)
            if before is not None:
                run_before(span, args)
            try:
                result = original(*args, **kwargs)
            except Exception as exc:
                if failed is not None:
                    run_failed(span, args, exc)
                raise
            if after is not None:
                run_after(span, args, result)
            return result

        return observed

    return make
