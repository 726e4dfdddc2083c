"""Exit spans ``urllib3`` for requests and urllib3 calls, with trace headers injected.

Patching ``HTTPConnectionPool.urlopen`` covers ``requests`` too (it sends through urllib3),
so one logical request gives one span. The span is active while urllib3 works: its internal
retries re-enter ``urlopen`` inside an exit and pass through instead of nesting.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any, Dict, Mapping, Optional, Tuple

from ..http_data import captured_headers, record_status, render_params
from ..span import EXIT, Span
from ..tracer import activate, context_headers, restore, start_child
from ._common import MethodPatch, call_in_exit, config, traced_parent, tracer_bug

NAMES = frozenset(("urllib3", "requests"))
MODULE = "urllib3.connectionpool"

# Ours replace any the caller set: a stale context copied from an incoming request would
# otherwise link this call into the wrong trace.
_OURS = frozenset(("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


Prepared = Tuple[Span, Dict[str, Any], "Token[Optional[Span]]"]


def _target(pool: Any, url: str) -> Tuple[str, str, str, str]:
    """(url without query, host, path, query) of a pool request; proxies pass absolute URLs."""
    url, _, _fragment = url.partition("#")
    url, _, query = url.partition("?")
    scheme = getattr(pool, "scheme", None) or "http"
    host = str(pool.host)
    port = getattr(pool, "port", None)
    if port and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if "://" in url:
        path = url.split("://", 1)[1].partition("/")[2]
        return url, host, "/" + path, query
    path = url or "/"
    return f"{scheme}://{host}{path}", host, path, query


def _before(
    pool: Any, method: Any, url: Any, headers: Optional[Mapping[str, Any]]
) -> Optional[Prepared]:
    if type(pool).__module__.startswith("botocore"):
        # botocore's own pools: AWS calls are the boto3 span's business (or untraced when
        # boto3 is disabled), never a second, generic HTTP span with headers in a signed request.
        return None
    parent = traced_parent(NAMES)
    if parent is None:
        return None
    span = start_child("urllib3", EXIT, error_path=("http",), parent=parent)
    assert span is not None
    base = headers if headers is not None else pool.headers
    outgoing = {k: v for k, v in base.items() if str(k).lower() not in _OURS}
    outgoing.update(context_headers(span))
    if span.recording:
        settings = config()
        full_url, host, path, query = _target(pool, str(url))
        http: Dict[str, Any] = {
            "method": str(method).upper(),
            "url": full_url,
            "host": host,
            "path": path,
        }
        if query:
            params = render_params(query, settings)
            if params:
                http["params"] = params
        if settings.extra_http_headers:
            captured = captured_headers(base, settings)
            if captured:
                http["header"] = captured
        span.data["http"] = http
    return span, outgoing, activate(span)


def _after(span: Span, token: Token[Optional[Span]], response: Any, exc: Any) -> None:
    try:
        restore(token)
        if span.recording:
            if exc is not None:
                span.record_exception(exc)
            elif response is not None:
                record_status(span, getattr(response, "status", None))
                settings = config()
                if settings.extra_http_headers:
                    captured = captured_headers(getattr(response, "headers", None), settings)
                    if captured:
                        span.data["http"].setdefault("header", {}).update(captured)
        span.finish()
    except Exception:
        tracer_bug("ending a urllib3 span")


def _traced_urlopen(
    self: Any,
    method: Any,
    url: Any,
    body: Any = None,
    headers: Any = None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    original = _patch.original
    assert original is not None
    try:
        prepared = _before(self, method, url, headers)
    except Exception:
        tracer_bug("starting a urllib3 span")
        prepared = None
    if prepared is None:
        return original(self, method, url, body, headers, *args, **kwargs)
    span, outgoing, token = prepared
    return call_in_exit(
        span, token, _after, original, self, method, url, body, outgoing, *args, **kwargs
    )


_patch = MethodPatch(MODULE, "HTTPConnectionPool", "urlopen", _traced_urlopen)
patch = _patch.apply
unpatch = _patch.restore
