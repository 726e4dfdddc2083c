"""``@cloud_run``: trace functions-framework functions on Cloud Run / Cloud Functions gen2.

```python
@functions_framework.http          # either order works
@instana_serverless.cloud_run
def hello(request): ...

@instana_serverless.cloud_run
@functions_framework.cloud_event
def on_event(cloud_event): ...
```

The wrapper stays a plain function with the original ``__name__`` (functions-framework
registers and loads functions by name) and keeps ``async def`` functions asynchronous. What
kind of call it is, is read from the argument:

- a request (Flask's, or anything with a WSGI ``environ``; Starlette's ``scope`` for async
  functions): HTTP entry ``n = "wsgi"`` (``"asgi"``) with ``data.http``, status and
  ``Server-Timing`` on the response;
- a CloudEvent: ``gcps`` / ``gcs`` / generic entry (see ``events``), with context from message
  attributes, CloudEvent attributes and the HTTP request that carried the event;
- ``(data, context)`` legacy background events likewise;
- anything else: the function is called untraced.

The span ends, and is sent by the send rule (``sending.work_done``; Cloud Run's rule is in
``runtime``), before the function's result is handed back to the server, so before any byte of
the response: with request-based billing it leaves while the request is still in flight
(docs/CONTRACT.md §3).
"""

from __future__ import annotations

import functools
import sys

from .. import log
from ..client import Client, get_client
from ..http_data import add_server_timing, record_entry_status
from ..middleware import (
    _WSGI_CONTEXT_KEYS,
    asgi_request,
    end_span,
    incoming_context,
    wsgi_request,
)
from ..sending import work_done, work_done_async
from ..span import Span
from ..tracer import activate, restore
from ..wrapping import on_wrap
from . import runtime
from .events import describe_background_event, describe_cloud_event

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar

    Function = TypeVar("Function", bound=Callable[..., Any])

HTTP_ERROR_PATH = ("http",)


def cloud_run(func: Function) -> Function:
    """Trace every call of the functions-framework function ``func``."""
    runtime.start()
    on_wrap()
    if _is_coroutine_function(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            client = get_client()
            if not client.tracing:
                return await func(*args, **kwargs)
            begun = _begin(client, args, kwargs, asynchronous=True)
            if begun is None:
                return await func(*args, **kwargs)
            span, is_http = begun
            token = activate(span)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                restore(token)
                await _end_async(client, span, _exception_to_record(span, exc, is_http))
                raise
            restore(token)
            if is_http:
                result = _respond(span, result)
            await _end_async(client, span, None)
            return result

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        client = get_client()
        if not client.tracing:
            return func(*args, **kwargs)
        begun = _begin(client, args, kwargs, asynchronous=False)
        if begun is None:
            return func(*args, **kwargs)
        span, is_http = begun
        token = activate(span)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            restore(token)
            end_span(client, span, _exception_to_record(span, exc, is_http), work_done)
            raise
        restore(token)
        if is_http:
            result = _respond(span, result)
        end_span(client, span, None, work_done)
        return result

    return wrapper  # type: ignore[return-value]


_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect on a cold start


def _is_coroutine_function(func: Any) -> bool:
    code = getattr(func, "__code__", None)
    return bool(getattr(code, "co_flags", 0) & _CO_COROUTINE)


async def _end_async(client: Client, span: Span, exc: Optional[BaseException]) -> None:
    end_span(client, span, exc, None)
    if span.recording:
        await work_done_async(client)


def _begin(
    client: Client, args: Tuple[Any, ...], kwargs: Mapping[str, Any], *, asynchronous: bool
) -> Optional[Tuple[Span, bool]]:
    """The entry span for this call and whether it is HTTP; None to run untraced."""
    try:
        if len(args) == 1 and not kwargs:
            arg = args[0]
            environ = getattr(arg, "environ", None)
            if isinstance(environ, dict) and "REQUEST_METHOD" in environ:
                return wsgi_request(client, environ, "wsgi", HTTP_ERROR_PATH), True
            scope = getattr(arg, "scope", None)
            if asynchronous and isinstance(scope, dict) and scope.get("type") == "http":
                return asgi_request(client, scope, "asgi", HTTP_ERROR_PATH), True
            if callable(getattr(arg, "get_attributes", None)):
                return _event_span(client, *describe_cloud_event(arg)), False
            return None
        if len(args) == 2 and not kwargs and hasattr(args[1], "event_type"):
            return _event_span(client, *describe_background_event(args[0], args[1])), False
    except Exception as exc:
        log.logger().debug("could not start the Cloud Run entry span: %r", exc)
    return None


def _carrier_headers() -> Dict[str, Any]:
    """Trace headers of the HTTP request that delivered the event, if Flask is serving it."""
    flask = sys.modules.get("flask")
    if flask is None:
        return {}
    try:
        if not flask.has_request_context():
            return {}
        environ = flask.request.environ
    except Exception:
        return {}
    found: Dict[str, Any] = {}
    for key, header in _WSGI_CONTEXT_KEYS:
        value = environ.get(key)
        if value is not None:
            found[header] = value
    return found


def _event_span(
    client: Client,
    name: str,
    data: Dict[str, Any],
    error_path: Tuple[str, ...],
    sources: List[Mapping[str, Any]],
) -> Span:
    from ..propagation import collect_headers

    # Earlier sources win: message attributes, CloudEvent attributes, then the carrier request.
    headers = collect_headers(*sources)
    for header, value in _carrier_headers().items():
        headers.setdefault(header, value)
    incoming = incoming_context(client, headers)
    return client.start_entry(name, incoming, data=data, error_path=error_path)


def _exception_to_record(span: Span, exc: BaseException, is_http: bool) -> Optional[BaseException]:
    """``abort(404)`` and other HTTP exceptions below 500 are answers, not failures."""
    if not is_http:
        return exc
    try:
        werkzeug_exceptions = sys.modules.get("werkzeug.exceptions")
        if werkzeug_exceptions is not None and isinstance(exc, werkzeug_exceptions.HTTPException):
            code = getattr(exc, "code", None)
            if isinstance(code, int):
                record_entry_status(span, code)
                if code < 500:
                    return None
    except Exception:
        pass
    return exc


def _respond(span: Span, result: Any) -> Any:
    """Status and Server-Timing from the function's return value; the value is returned
    unchanged, or as the equivalent Flask response when Flask is serving the request."""
    try:
        response = _as_response(result)
        if response is None:
            status = getattr(result, "status_code", None)
            if status is None and isinstance(result, tuple) and len(result) >= 2:
                status = result[1] if isinstance(result[1], int) else None
            record_entry_status(span, 200 if status is None else status)
            headers = getattr(result, "headers", None)
            if span.recording and headers is not None and hasattr(headers, "keys"):
                add_server_timing(headers, span)
            return result
        record_entry_status(span, response.status_code)
        if span.recording:
            add_server_timing(response.headers, span)
        return response
    except Exception as exc:
        log.logger().debug("could not read the Cloud Run function's response: %r", exc)
        return result


def _as_response(result: Any) -> Any:
    flask = sys.modules.get("flask")
    if flask is None:
        return None
    try:
        if not flask.has_request_context():
            return None
        return flask.make_response(result)
    except Exception:
        # Flask will refuse the value the same way; the function's own result goes back.
        return None
