"""Exit spans ``http`` for httpx's ``Client.send`` and ``AsyncClient.send``, headers injected.

``send`` is where every request of a client passes (``get``, ``post``, ``stream`` … and a
user's own ``build_request`` + ``send``), whatever its transport. One send is one span,
redirects it follows included; the span ends when the response headers are in (a streamed
body is read later, outside it). The trace headers go into the request object itself: httpx
builds a new one per request, and its redirects carry them on.
"""

from __future__ import annotations

from operator import itemgetter

from ..tracer import context_headers
from ._common import CONTEXT_HEADERS
from ._http import add_request_details, record_response
from ._patches import Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from ._wrap import Call, StartResult

_DEFAULT_PORTS = {"http": 80, "https": 443}
_RAW_CONTEXT_HEADERS = frozenset(name.encode() for name in CONTEXT_HEADERS)
_LOWERED = itemgetter(1)
# header name as we send it -> (its bytes, lowered), as httpx's Headers stores a name
_NAMES: Dict[str, Tuple[bytes, bytes]] = {}
# the encodings httpx's Headers may hold in which an ASCII name is its own bytes (None: unset)
_ENCODINGS = (None, "ascii", "utf-8", "iso-8859-1")


def _request(call: Call) -> Any:
    args = call.args
    return args[1] if len(args) > 1 else call.kwargs["request"]


def start(call: Call) -> StartResult:
    request = _request(call)
    call.state = request
    if not call.recording:
        return "http", None, ("http",)
    settings = call.config
    url = request.url
    scheme = url.scheme
    host = url.host
    port = url.port
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    path = url.path or "/"
    http: Dict[str, Any] = {
        "method": str(request.method).upper(),
        "url": f"{scheme}://{host}{path}",
        "host": host,
        "path": path,
    }
    query = url.query.decode("ascii", "replace")
    add_request_details(http, query, request.headers, settings)
    return "http", {"http": http}, ("http",)


def inject(call: Call) -> None:
    headers = call.state.headers
    context = context_headers(call.span)
    if _append(headers, context):
        return
    # A suppressed trace sends fewer headers: drop the caller's others (a stale X-INSTANA-T
    # must not travel with our X-INSTANA-L: 0). Otherwise setting each of ours below replaces
    # any the caller set, and the scan of all the request's headers is not needed.
    if len(context) < len(CONTEXT_HEADERS) and any(
        name.lower() in _RAW_CONTEXT_HEADERS for name, _ in headers.raw
    ):
        for name in [name for name in headers if name.lower() in CONTEXT_HEADERS]:
            del headers[name]
    for name, value in context.items():
        headers[name] = value


def _append(headers: Any, context: Dict[str, str]) -> bool:
    """When the request carries none of the context headers (the usual case), add ours as
    ``headers[name] = value`` would, without its scan of the whole list per header (a third
    of the tracing work per call): httpx's Headers keep (name, lowered name, value) bytes in
    ``_list``, encoded with the headers' encoding, UTF-8 unless one was set or guessed.
    False: not that layout, an encoding that is not ASCII's superset, or a context header is
    there already; the caller sets them one by one."""
    entries: Optional[List[Any]] = getattr(headers, "_list", None)
    encoding = getattr(headers, "_encoding", "")
    if (
        type(entries) is not list
        or not entries
        or encoding not in _ENCODINGS
        or len(entries[0]) != 3
        or type(entries[0][1]) is not bytes
        or not _RAW_CONTEXT_HEADERS.isdisjoint(map(_LOWERED, entries))
    ):
        return False
    encoding = encoding or "utf-8"
    added = []
    for name, value in context.items():
        encoded = _NAMES.get(name)
        if encoded is None:
            raw = name.encode()
            if raw.lower() not in _RAW_CONTEXT_HEADERS:
                return False  # a name the scan above did not look for
            encoded = _NAMES[name] = (raw, raw.lower())
        added.append((encoded[0], encoded[1], value.encode(encoding)))
    entries.extend(added)
    return True


def end(call: Call, response: Any, exc: Optional[BaseException]) -> None:
    if response is None:
        return
    record_response(
        call, getattr(response, "status_code", None), getattr(response, "headers", None)
    )


PATCHES = {
    "httpx._client": (
        Method("Client", "send", start, end, inject=inject),
        Method("AsyncClient", "send", start, end, inject=inject),
    ),
}
