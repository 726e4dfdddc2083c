"""WSGI and ASGI middleware: one HTTP entry span per request, on Cloud Run, Fargate or anywhere.

```python
app.wsgi_app = instana_serverless.WSGIMiddleware(app.wsgi_app)    # Flask
app = instana_serverless.ASGIMiddleware(app)                       # FastAPI / Starlette
```

Spans are named ``wsgi`` / ``asgi`` and carry ``data.http`` (method, path, masked query,
host, captured headers, status); the trace continues from Instana, W3C or
``X-Cloud-Trace-Context`` headers; responses get ``Server-Timing: intid;desc=<trace id>``; a 5xx
or an exception marks the span erroneous (exceptions are re-raised unchanged).

When the span ends and is sent depends on the platform (detected from the environment when
the middleware is built; ``flush=`` overrides):

- Fargate: nothing is sent per request; the background reporter (started here, restarted
  after a fork) sends every second.
- Cloud Run and everything else: the span ends while the response is still incomplete, and
  the send rule (``sending.work_done``; Cloud Run's in ``gcp.runtime``) runs right then, so a
  blocking send holds back the response's last byte and no request's spans can wait for a
  later request. The last byte is: for a list body, the whole body (the span ends when the
  app returns it); for a ``Content-Length`` response, the chunk (WSGI) or body message (ASGI)
  that completes the declared length; otherwise the end of the body (WSGI: when the server
  asks for the next chunk and there is none, before it writes the chunked terminator or
  closes; ASGI: the message without ``more_body``). The WSGI body is wrapped, which disables
  ``wsgi.file_wrapper`` ``sendfile`` shortcuts.
"""

from __future__ import annotations

from . import log
from .client import Client, get_client
from .gcp.context import HEADER as CLOUD_TRACE_HEADER
from .gcp.context import cloud_trace_as_traceparent
from .http_data import (
    http_entry_data,
    record_entry_status,
    record_request_error,
    server_timing_value,
)
from .propagation import CONTEXT_HEADERS, IncomingContext, extract
from .sending import work_done, work_done_async
from .span import ENTRY, Span, describe_exception
from .tracer import activate, current_span, restore
from .wrapping import on_wrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import (
        Any,
        Awaitable,
        Callable,
        Dict,
        Iterable,
        Iterator,
        List,
        Mapping,
        Optional,
        Tuple,
    )

    Hook = Callable[[Client], object]
    StartResponse = Callable[..., Any]
    WSGIApp = Callable[[Any, StartResponse], Iterable[bytes]]
    Receive = Callable[[], Awaitable[Any]]
    Send = Callable[[Any], Awaitable[None]]
    ASGIApp = Callable[[Any, Receive, Send], Awaitable[None]]

WSGI_SPAN = "wsgi"
ASGI_SPAN = "asgi"
ERROR_PATH = ("http",)
SERVER_TIMING_LOWER = "server-timing"

# The trace headers as WSGI environ keys; looked up directly instead of scanning all headers.
_CONTEXT_HEADERS = (*CONTEXT_HEADERS, CLOUD_TRACE_HEADER)
_WSGI_CONTEXT_KEYS = tuple(
    ("HTTP_" + name.upper().replace("-", "_"), name) for name in _CONTEXT_HEADERS
)
_CONTEXT_HEADER_SET = frozenset(_CONTEXT_HEADERS)


def incoming_context(client: Client, headers: Dict[str, Any]) -> Optional[IncomingContext]:
    """From lower-case trace headers; ``X-Cloud-Trace-Context`` only as a last resort."""
    if not headers:
        return None
    cloud = headers.pop(CLOUD_TRACE_HEADER, None)
    fallback = cloud_trace_as_traceparent(cloud) if cloud is not None else None
    if fallback is not None:
        return extract(headers, fallback, w3c_correlation=client.w3c_correlation)
    if not headers:
        return None
    return extract(headers, w3c_correlation=client.w3c_correlation)


def _wsgi_key(name: str) -> str:
    upper = name.upper().replace("-", "_")
    return upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + upper


def wsgi_request(
    client: Client, environ: Mapping[str, Any], name: str, error_path: Tuple[str, ...]
) -> Span:
    """An entry span (not yet active) for the request described by a WSGI ``environ``."""
    headers, http = wsgi_http(client, environ)
    incoming = incoming_context(client, headers)
    return client.start_entry(name, incoming, data={"http": http}, error_path=error_path)


def wsgi_http(client: Client, environ: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(lower-case trace headers, ``data.http``) of the request a WSGI ``environ`` describes."""
    headers: Dict[str, Any] = {}
    for key, header in _WSGI_CONTEXT_KEYS:
        value = environ.get(key)
        if value is not None:
            headers[header] = value
    config = client.config
    captured: Optional[Dict[str, Any]] = None
    if config.extra_http_headers:
        captured = {}
        for header in config.extra_http_headers:
            value = environ.get(_wsgi_key(header))
            if value is not None:
                captured[header] = value
    # ``url`` is the whole path the client asked for (the mount point, SCRIPT_NAME, included),
    # ``path`` what the app routes on (PATH_INFO); they differ only for a mounted app.
    routed = environ.get("PATH_INFO") or "/"
    path = f"{environ.get('SCRIPT_NAME') or ''}{environ.get('PATH_INFO') or ''}" or "/"
    http = http_entry_data(
        config,
        method=environ.get("REQUEST_METHOD"),
        url=path,
        path=routed,
        query=environ.get("QUERY_STRING"),
        headers=captured,
        host=environ.get("HTTP_HOST") or environ.get("SERVER_NAME"),
    )
    return headers, http


def asgi_request(
    client: Client, scope: Mapping[str, Any], name: str, error_path: Tuple[str, ...]
) -> Span:
    """An entry span (not yet active) for an ASGI ``http`` scope."""
    headers, http = asgi_http(client, scope)
    return client.start_entry(
        name, incoming_context(client, headers), data={"http": http}, error_path=error_path
    )


def asgi_http(client: Client, scope: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(lower-case trace headers, ``data.http``) of an ASGI ``http`` scope."""
    config = client.config
    wanted = config.extra_http_headers
    headers: Dict[str, Any] = {}
    captured: Dict[str, Any] = {}
    host: Optional[str] = None
    for raw_name, raw_value in scope.get("headers") or ():
        header = bytes(raw_name).decode("latin-1").lower()
        if header in _CONTEXT_HEADER_SET or header == "host" or header in wanted:
            value = bytes(raw_value).decode("latin-1")
            if header in _CONTEXT_HEADER_SET and header not in headers:
                headers[header] = value
            if header == "host":
                host = value
            if header in wanted:
                captured[header] = value
    if host is None:
        server = scope.get("server")
        if isinstance(server, (list, tuple)) and server and server[0]:
            host = str(server[0])
    query = scope.get("query_string") or b""
    routed = scope.get("path") or "/"  # as for WSGI: ``url`` with, ``path`` without root_path
    path = f"{scope.get('root_path') or ''}{scope.get('path') or ''}" or "/"
    http = http_entry_data(
        config,
        method=scope.get("method"),
        url=path,
        path=routed,
        query=bytes(query).decode("latin-1"),
        headers=captured or None,
        host=host,
    )
    return headers, http


def active_entry() -> Optional[Span]:
    """The entry span already serving this request (the Lambda decorator or layer,
    ``@cloud_run``, the Azure wrapper, ``entry_span``), which the middleware enriches
    instead of opening a second entry: one entry span per unit of work."""
    span = current_span()
    if span is None or span.kind != ENTRY or span.finished:
        return None
    return span


def fill_in(span: Span, http: Dict[str, Any]) -> None:
    """The http fields the entry lacks (a Lambda entry has the gateway's own already)."""
    if not span.recording:
        return
    existing = span.data.setdefault("http", {})
    for key, value in http.items():
        existing.setdefault(key, value)


def request_hook(flush: Optional[bool] = None) -> Tuple[Optional[Hook], bool]:
    """(what to run after each request, whether it may block on the network): the platform's
    send rule (``work_done``), or on Fargate the background reporter's liveness check."""
    from .platform import CLOUD_RUN, FARGATE, detect

    if flush is False:
        return None, False
    kind = detect()
    if kind == FARGATE and flush is None:
        from .fargate.reporter import ensure_running

        ensure_running()
        return ensure_running, False
    if kind == CLOUD_RUN:
        from .gcp import runtime

        runtime.start()  # installs Cloud Run's send rule
    return work_done, True


def end_span(
    client: Client, span: Span, exc: Optional[BaseException], hook: Optional[Hook]
) -> None:
    """Record ``exc``, end ``span``, then run the hook (flush); once, never raises."""
    if span.finished:
        return
    try:
        if exc is not None:
            if "status" not in span.data.get("http", {}):
                span.data.setdefault("http", {})["status"] = 500
            record_request_error(span, describe_exception(exc))
        span.finish()
        if hook is not None and span.recording:
            hook(client)
    except Exception as error:
        log.logger().debug("ending the HTTP entry span failed: %r", error)


def _with_server_timing(headers: List[Tuple[str, str]], span: Span) -> List[Tuple[str, str]]:
    value = server_timing_value(span)
    for index, (name, existing) in enumerate(headers):
        if isinstance(name, str) and name.lower() == SERVER_TIMING_LOWER:
            if isinstance(existing, str) and "intid;" not in existing:
                headers[index] = (name, f"{existing}, {value}" if existing else value)
            return headers
    headers.append(("Server-Timing", value))
    return headers


def _note_exception(span: Span, exc: BaseException) -> None:
    """An exception leaving the app, on its way to the entry's owner (which records it too:
    one failure, counted once)."""
    try:
        if "status" not in span.data.get("http", {}):
            span.data.setdefault("http", {})["status"] = 500
        record_request_error(span, describe_exception(exc))
    except Exception as error:
        log.logger().debug("could not record the app's exception: %r", error)


def declared_length(headers: Any) -> int:
    """The response's ``Content-Length`` (name/value pairs, str or bytes); -1 when absent."""
    try:
        for name, value in headers:
            if name.lower() in ("content-length", b"content-length"):
                return int(value)
    except Exception:
        pass
    return -1


class _TracedBody:
    """The app's body iterable; ends the span before the response's last byte is released:
    ahead of the chunk that completes ``Content-Length``, else when exhausted, failed or
    closed."""

    __slots__ = ("_body", "_client", "_hook", "_iterator", "_left", "_span")

    def __init__(
        self,
        body: Iterable[bytes],
        client: Client,
        span: Span,
        hook: Optional[Hook],
        length: List[int],
    ):
        self._body = body
        self._client = client
        self._span = span
        self._hook = hook
        # Shared with start_response, which a generator body calls only on its first step.
        self._left = length
        self._iterator: Optional[Iterator[bytes]] = None

    def __iter__(self) -> _TracedBody:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = iter(self._body)
        token = activate(self._span)
        try:
            chunk = next(self._iterator)
            left = self._left
            if left[0] >= 0 and isinstance(chunk, (bytes, bytearray)):
                left[0] -= len(chunk)
                if left[0] <= 0:
                    end_span(self._client, self._span, None, self._hook)
            return chunk
        except StopIteration:
            end_span(self._client, self._span, None, self._hook)
            raise
        except BaseException as exc:
            end_span(self._client, self._span, exc, self._hook)
            raise
        finally:
            restore(token)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            end_span(self._client, self._span, exc, self._hook)
            raise
        end_span(self._client, self._span, None, self._hook)


class WSGIMiddleware:
    """Traces every request to the WSGI ``app``."""

    def __init__(self, app: WSGIApp, *, flush: Optional[bool] = None) -> None:
        self.app = app
        on_wrap()
        try:
            self._hook, _ = request_hook(flush)
        except Exception as exc:
            log.logger().debug("platform hook unavailable, flushing per request: %r", exc)
            self._hook = Client.flush

    def __call__(self, environ: Any, start_response: StartResponse) -> Iterable[bytes]:
        client = get_client()
        if not client.tracing:
            return self.app(environ, start_response)
        outer = active_entry()
        if outer is not None:
            return self._enrich(client, outer, environ, start_response)
        try:
            span = wsgi_request(client, environ, WSGI_SPAN, ERROR_PATH)
        except Exception as exc:
            log.logger().debug("could not start the WSGI entry span: %r", exc)
            return self.app(environ, start_response)
        hook = self._hook
        left = [-1]  # bytes of the declared Content-Length not yet passed on

        def traced_start_response(
            status: str, headers: List[Tuple[str, str]], *exc_info: Any
        ) -> Any:
            try:
                record_entry_status(span, str(status).split(" ", 1)[0])
                left[0] = declared_length(headers)
                if span.recording and isinstance(headers, list):
                    _with_server_timing(headers, span)
            except Exception as exc:
                log.logger().debug("could not read the WSGI response status: %r", exc)
            return start_response(status, headers, *exc_info)

        token = activate(span)
        try:
            body = self.app(environ, traced_start_response)
        except BaseException as exc:
            end_span(client, span, exc, hook)
            raise
        finally:
            restore(token)
        if isinstance(body, (list, tuple)):
            # Nothing runs while a list is written: end now, so the flush precedes the response.
            end_span(client, span, None, hook)
            return body
        return _TracedBody(body, client, span, hook, left)

    def _enrich(
        self, client: Client, span: Span, environ: Any, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Inside an entry that is already serving the request: its missing http fields, the
        status, the error and Server-Timing go to that entry, which its owner ends and sends."""
        try:
            fill_in(span, wsgi_http(client, environ)[1])
        except Exception as exc:
            log.logger().debug("could not describe the WSGI request: %r", exc)

        def enriched_start_response(
            status: str, headers: List[Tuple[str, str]], *exc_info: Any
        ) -> Any:
            try:
                record_entry_status(span, str(status).split(" ", 1)[0])
                if span.recording and isinstance(headers, list):
                    _with_server_timing(headers, span)
            except Exception as exc:
                log.logger().debug("could not read the WSGI response status: %r", exc)
            return start_response(status, headers, *exc_info)

        try:
            return self.app(environ, enriched_start_response)
        except Exception as exc:
            _note_exception(span, exc)
            raise


def _sending_at_shutdown(receive: Receive) -> Receive:
    """``receive`` of the lifespan scope, sending what is still buffered (spans a failed send
    left) when the server announces its shutdown: uvicorn ends a SIGTERM by re-raising it,
    which skips ``atexit``."""

    async def lifespan_receive() -> Any:
        message = await receive()
        try:
            if isinstance(message, dict) and message.get("type") == "lifespan.shutdown":
                client = get_client()
                if client.reporting and len(client.buffer):
                    import asyncio

                    await asyncio.get_running_loop().run_in_executor(None, client.flush)
        except Exception as exc:
            log.logger().debug("sending at shutdown failed: %r", exc)
        return message

    return lifespan_receive


class ASGIMiddleware:
    """Traces every HTTP request to the ASGI ``app`` (lifespan and websockets pass through;
    at the lifespan shutdown, spans still buffered are sent)."""

    def __init__(self, app: ASGIApp, *, flush: Optional[bool] = None) -> None:
        self.app = app
        on_wrap()
        try:
            self._hook, self._blocking = request_hook(flush)
        except Exception as exc:
            log.logger().debug("platform hook unavailable, flushing per request: %r", exc)
            self._hook, self._blocking = Client.flush, True

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if not isinstance(scope, dict) or scope.get("type") != "http":
            if isinstance(scope, dict) and scope.get("type") == "lifespan":
                receive = _sending_at_shutdown(receive)
            await self.app(scope, receive, send)
            return
        client = get_client()
        if not client.tracing:
            await self.app(scope, receive, send)
            return
        outer = active_entry()
        if outer is not None:
            await self._enrich(client, outer, scope, receive, send)
            return
        try:
            span = asgi_request(client, scope, ASGI_SPAN, ERROR_PATH)
        except Exception as exc:
            log.logger().debug("could not start the ASGI entry span: %r", exc)
            await self.app(scope, receive, send)
            return

        left: Optional[int] = None  # bytes of the declared Content-Length not yet passed on

        async def traced_send(message: Any) -> None:
            nonlocal left
            try:
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "http.response.start":
                    length = declared_length(message.get("headers") or ())
                    left = length if length >= 0 else None
                    message = self._on_start(span, message)
                elif kind == "http.response.body":
                    if left is not None:
                        left -= len(message.get("body") or b"")
                    if (left is not None and left <= 0) or not message.get("more_body", False):
                        await self._end(client, span, None)
            except Exception as exc:
                log.logger().debug("could not trace the ASGI response: %r", exc)
            await send(message)

        token = activate(span)
        try:
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            await self._end(client, span, exc)
            raise
        finally:
            restore(token)
        await self._end(client, span, None)

    async def _enrich(
        self, client: Client, span: Span, scope: Any, receive: Receive, send: Send
    ) -> None:
        """As ``WSGIMiddleware._enrich``: the entry already serving the request gets it all."""
        try:
            fill_in(span, asgi_http(client, scope)[1])
        except Exception as exc:
            log.logger().debug("could not describe the ASGI request: %r", exc)

        async def enriched_send(message: Any) -> None:
            try:
                if isinstance(message, dict) and message.get("type") == "http.response.start":
                    message = self._on_start(span, message)
            except Exception as exc:
                log.logger().debug("could not trace the ASGI response: %r", exc)
            await send(message)

        try:
            await self.app(scope, receive, enriched_send)
        except Exception as exc:
            _note_exception(span, exc)
            raise

    @staticmethod
    def _on_start(span: Span, message: Any) -> Any:
        record_entry_status(span, message.get("status"))
        if not span.recording:
            return message
        headers = list(message.get("headers") or ())
        value = server_timing_value(span).encode("latin-1")
        for index, (name, existing) in enumerate(headers):
            if bytes(name).lower() == b"server-timing":
                if b"intid;" not in existing:
                    headers[index] = (name, bytes(existing) + b", " + value if existing else value)
                break
        else:
            headers.append((b"server-timing", value))
        return {**message, "headers": headers}

    async def _end(self, client: Client, span: Span, exc: Optional[BaseException]) -> None:
        if span.finished:
            return
        if self._hook is work_done:
            end_span(client, span, exc, None)
            if span.recording:
                await work_done_async(client)
            return
        if not self._blocking or self._hook is None:
            end_span(client, span, exc, self._hook)
            return
        # The flush blocks on the network: run it off the event loop, still before the
        # final body message goes out.
        end_span(client, span, exc, None)
        if span.recording:
            import asyncio

            try:
                await asyncio.get_running_loop().run_in_executor(None, self._hook, client)
            except Exception as error:
                log.logger().debug("flush after the ASGI request failed: %r", error)


__all__ = [
    "ASGIMiddleware",
    "WSGIMiddleware",
    "active_entry",
    "asgi_http",
    "asgi_request",
    "declared_length",
    "end_span",
    "fill_in",
    "incoming_context",
    "request_hook",
    "wsgi_http",
    "wsgi_request",
]
