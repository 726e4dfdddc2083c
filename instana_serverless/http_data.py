"""``data.http`` for HTTP entry spans, shared by every platform (docs/CONTRACT.md §4).

Query parameters are rendered ``k=v&k=v`` (never Python list reprs) with secrets masked,
and only the headers named in ``INSTANA_EXTRA_HTTP_HEADERS`` are captured, masked by
``secrets.mask_header`` (secret names, credentials of Authorization and cookies).
"""

from __future__ import annotations

from collections import abc

from .config import Config
from .secrets import MASK, mask_header, mask_url_credentials
from .span import MAX_ERROR_LENGTH, Span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Mapping, MutableMapping, Optional, Tuple, Union

SERVER_TIMING = "Server-Timing"
MAX_PARAMS_LENGTH = 1000

if TYPE_CHECKING:
    QueryInput = Union[str, Mapping[str, Any], Iterable[Tuple[str, Any]], None]


def render_params(query: QueryInput, config: Config) -> Optional[str]:
    """``k=v&k=v`` with secret values masked; None when there are no parameters."""
    if not query:
        return None
    if isinstance(query, str):
        text = config.secrets.mask_query(query.lstrip("?"))
        return text[:MAX_PARAMS_LENGTH] or None
    pairs: List[str] = []
    items = query.items() if isinstance(query, abc.Mapping) else query
    is_secret = config.secrets.is_secret
    for name, value in items:
        name = str(name)
        values = value if isinstance(value, (list, tuple)) else (value,)
        for item in values:
            shown = MASK if is_secret(name) else ("" if item is None else str(item))
            pairs.append(f"{name}={shown}")
    return "&".join(pairs)[:MAX_PARAMS_LENGTH] or None


def captured_headers(
    headers: Optional[Mapping[str, Any]], config: Config
) -> Optional[Dict[str, str]]:
    """The headers the user asked to capture, by their configured (lower-case) names."""
    wanted = config.extra_http_headers
    if not wanted or not headers:
        return None
    found: Dict[str, str] = {}
    secrets = config.secrets
    try:
        for name, value in headers.items():
            lowered = str(name).lower()
            if lowered in wanted:
                if isinstance(value, (list, tuple)):
                    value = ",".join(mask_header(str(name), str(v), secrets) for v in value)
                else:
                    value = mask_header(str(name), str(value), secrets)
                found[lowered] = value[:200]
    except Exception:
        return None
    return found or None


def http_entry_data(
    config: Config,
    *,
    method: Optional[str],
    url: Optional[str],
    query: QueryInput = None,
    headers: Optional[Mapping[str, Any]] = None,
    host: Optional[str] = None,
    path_tpl: Optional[str] = None,
    path: Optional[str] = None,
) -> Dict[str, Any]:
    """``data.http`` of an incoming request; ``url`` is the path without the query.

    ``path`` is what WSGI/ASGI servers route on (``PATH_INFO``, the scope's ``path``), sent as
    ``data.http.path`` the way the official sensor's WSGI/ASGI middleware sends it.
    """
    data: Dict[str, Any] = {}
    if method:
        data["method"] = method.upper()
    if url:
        data["url"] = mask_url_credentials(url.split("?", 1)[0])
    if path:
        data["path"] = path
    if host:
        data["host"] = host
    if path_tpl:
        data["path_tpl"] = path_tpl
    params = render_params(query, config)
    if params:
        data["params"] = params
    header = captured_headers(headers, config)
    if header:
        data["header"] = header
    return data


def record_status(span: Span, status: Any) -> None:
    """Put the response status in ``data.http``; a 5xx marks the span erroneous."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return
    http = span.data.setdefault("http", {})
    http["status"] = code
    if code >= 500:
        span.mark_error(f"HTTP {code}")


# Reason phrases of the 5xx statuses (RFC 9110 and the registered extensions), so that an entry
# answered 5xx without an exception says which failure it was; ``http`` is not imported for it.
REASONS = {
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
    506: "Variant Also Negotiates",
    507: "Insufficient Storage",
    508: "Loop Detected",
    510: "Not Extended",
    511: "Network Authentication Required",
}


def record_entry_status(span: Span, status: Any) -> None:
    """The status of the response an entry span served; a 5xx that no exception explained
    is the request's error, as ``HTTP 503 Service Unavailable``."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return
    span.data.setdefault("http", {})["status"] = code
    if code >= 500 and span.error_count == 0:
        reason = REASONS.get(code)
        record_request_error(span, f"HTTP {code} {reason}" if reason else f"HTTP {code}")


def record_request_error(span: Span, message: str) -> None:
    """The failure of the request an entry span serves, in ``data.http.error`` and where the
    span keeps its error (``data.lambda.error`` on Lambda).

    One failure is counted once, however many layers report it (the framework that caught
    the exception, the middleware it is re-raised through, the status it became): ``ec`` is
    raised to 1, not incremented, and the message replaces the status-only one.
    """
    message = message[:MAX_ERROR_LENGTH]
    http = span.data.setdefault("http", {})
    if span.error_count and http.get("error") == message:
        return
    if span.error_count == 0:
        span.error_count = 1
    http["error"] = message
    if span.error_path and span.error_path != ("http",):
        target = span.data
        for key in span.error_path:
            target = target.setdefault(key, {})
        target["error"] = message


def server_timing_value(span: Span) -> str:
    return f"intid;desc={span.trace_id}"


def add_server_timing(headers: MutableMapping[str, Any], span: Span) -> None:
    """Add ``intid`` to a response's headers, after any Server-Timing the app set itself."""
    value = server_timing_value(span)
    for name in list(headers.keys()):
        if isinstance(name, str) and name.lower() == "server-timing":
            existing = headers[name]
            if isinstance(existing, str) and "intid;" not in existing:
                headers[name] = f"{existing}, {value}" if existing else value
            return
    headers[SERVER_TIMING] = value
