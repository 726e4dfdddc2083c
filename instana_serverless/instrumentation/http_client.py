"""Exit spans ``http`` for ``urllib.request`` and plain ``http.client``, headers injected.

``HTTPConnection.request`` starts the span (the request line, the headers we add) and
``getresponse`` ends it with the status, or with the error that either of them raised. The
span is active only while ``request`` runs: between the two calls the caller's own code runs
under its own span, as without us. A connection carries at most one span waiting for its
response (``http.client`` allows one outstanding request); a kept-alive connection used for
several requests gives one span per request. A span whose response is never read ends when the
connection sends its next request or is closed, so it is never lost.

Only outside another exit (the registry row has ``inside_exits=False``): requests, urllib3 and
boto3 send through ``http.client`` underneath and already have their span. Connections of
urllib3 (and botocore, built on it) pass through even when those rows are disabled: disabling
``requests`` or ``boto3`` must not turn their calls into generic ``http`` spans, nor add
headers to a signed AWS request. Callers that drive the connection with ``putrequest`` /
``putheader`` / ``endheaders`` themselves (``xmlrpc.client``, logging's ``HTTPHandler``) are
not traced.

Our own reporter sends on a socket of its own and never goes through ``http.client``.
"""

from __future__ import annotations

from ..secrets import mask_url_credentials
from ..tracer import context_headers
from . import _wrap
from ._common import CONTEXT_HEADERS
from ._http import add_request_details, end
from ._patches import Custom

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Mapping, Optional, Tuple

    from ._wrap import Call, StartResult
    from .registry import Entry

_DEFAULT_PORTS = {"http": 80, "https": 443}
# request(self, method, url, body=None, headers={}, *, encode_chunked=False)
_HEADERS_AT = 4
# The span of a request sent on a connection, waiting for getresponse (an instance attribute).
_PENDING = "_instana_pending_span"
# Connection classes built on these libraries belong to those libraries' rows.
_OTHER_ROWS = ("urllib3", "botocore")

_schemes: Dict[type, Optional[str]] = {}


def _scheme(cls: type) -> Optional[str]:
    """``http``/``https`` for a connection class, None for urllib3's and botocore's (cached)."""
    scheme = _schemes.get(cls, "")
    if scheme != "":
        return scheme
    scheme = "http"
    for base in cls.__mro__:
        module = str(getattr(base, "__module__", ""))
        if module.partition(".")[0] in _OTHER_ROWS:
            scheme = None
            break
        if base.__name__ == "HTTPSConnection" and module == "http.client":
            scheme = "https"
    _schemes[cls] = scheme
    return scheme


def _arg(call: Call, index: int, name: str, default: Any = None) -> Any:
    args = call.args
    return args[index] if len(args) > index else call.kwargs.get(name, default)


def _target(conn: Any, scheme: str, url: str) -> Tuple[str, str, str, str]:
    """(url without query, host, path, query); a proxy gets absolute URLs, a tunnel (CONNECT
    proxy) knows the real host."""
    url = url.partition("#")[0]
    url, _, query = url.partition("?")
    if "://" in url:
        scheme, _, rest = url.partition("://")
        authority, slash, path = rest.partition("/")
        host = authority.rpartition("@")[2]
        return mask_url_credentials(url), host, slash + path or "/", query
    host = getattr(conn, "_tunnel_host", None) or conn.host
    port = getattr(conn, "_tunnel_port", None) if getattr(conn, "_tunnel_host", None) else conn.port
    if ":" in host:
        host = f"[{host}]"
    if port and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = url or "/"
    return f"{scheme}://{host}{path}", host, path, query


def start(call: Call) -> StartResult:
    conn = call.args[0]
    scheme = _scheme(type(conn))
    if scheme is None:
        return None
    headers = _arg(call, _HEADERS_AT, "headers")
    call.state = headers
    if not call.recording:
        return "http", None, ("http",)
    settings = call.config
    url, host, path, query = _target(conn, scheme, str(_arg(call, 2, "url")))
    http: Dict[str, Any] = {
        "method": str(_arg(call, 1, "method")).upper(),
        "url": url,
        "host": host,
        "path": path,
    }
    add_request_details(http, query, headers, settings)
    return "http", {"http": http}, ("http",)


def inject(call: Call) -> None:
    """A copy of the request headers with our context; the caller's mapping is never touched."""
    base: Optional[Mapping[str, Any]] = call.state
    outgoing = (
        {k: v for k, v in base.items() if str(k).lower() not in CONTEXT_HEADERS} if base else {}
    )
    outgoing.update(context_headers(call.span))
    args = call.args
    if len(args) > _HEADERS_AT:
        call.args = (*args[:_HEADERS_AT], outgoing, *args[_HEADERS_AT + 1 :])
    else:
        call.kwargs = {**call.kwargs, "headers": outgoing}


def _end_pending(entry: Entry, conn: Any) -> None:
    """End a span whose response was never read (the connection moved on or closed)."""
    try:
        pending = conn.__dict__.pop(_PENDING, None)
    except Exception:
        return
    if pending is not None:
        _wrap.finish(entry, end, pending, None, None)


def _request(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    def request(*args: Any, **kwargs: Any) -> Any:
        call = _wrap.begin(entry, start, inject, args, kwargs)
        if call is None:
            result = original(*args, **kwargs)
            if args and _PENDING in getattr(args[0], "__dict__", ()):
                _end_pending(entry, args[0])
            return result
        try:
            result = original(*call.args, **call.kwargs)
        except BaseException as exc:
            _wrap.finish(entry, end, call, None, exc)
            raise
        try:
            _wrap.deactivate(call)
            conn = args[0]
            _end_pending(entry, conn)
            conn.__dict__[_PENDING] = call
        except Exception:
            _wrap.finish(entry, end, call, None, None)
        return result

    return request


def _getresponse(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    def getresponse(*args: Any, **kwargs: Any) -> Any:
        try:
            call = args[0].__dict__.pop(_PENDING, None)
        except Exception:
            call = None
        if call is None:
            return original(*args, **kwargs)
        try:
            response = original(*args, **kwargs)
        except BaseException as exc:
            _wrap.finish(entry, end, call, None, exc)
            raise
        _wrap.finish(entry, end, call, response, None)
        return response

    return getresponse


def _close(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    def close(*args: Any, **kwargs: Any) -> Any:
        if args and _PENDING in getattr(args[0], "__dict__", ()):
            _end_pending(entry, args[0])
        return original(*args, **kwargs)

    return close


PATCHES = {
    "http.client": (
        Custom("HTTPConnection", "request", _request),
        Custom("HTTPConnection", "getresponse", _getresponse),
        Custom("HTTPConnection", "close", _close),
    ),
}
