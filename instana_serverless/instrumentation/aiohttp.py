"""Exit spans ``aiohttp-client`` for aiohttp's ``ClientSession._request``, headers injected.

``_request`` is the coroutine behind every request of a session (``get``, ``post``,
``request``, ``ws_connect`` …); it returns once the response headers are in, so the span covers
connecting, sending, redirects followed and the status, and the body is read later, outside it.
The data are those the official Instana sensor sends for aiohttp: ``http.url`` (no query),
``method``, ``params``, ``status``, ``header`` and ``error`` (``"<status> <reason>"`` for a 5xx,
the exception otherwise). The trace headers are passed as the request's own headers, which
aiohttp lays over the session's defaults and keeps on redirects.
"""

from __future__ import annotations

from ..http_data import captured_headers, render_params
from ..secrets import mask_url_credentials
from ..tracer import context_headers
from ._common import CONTEXT_HEADERS
from ._http import add_response_headers
from ._patches import Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from ._wrap import Call, StartResult


def _pairs(headers: Any) -> List[Tuple[Any, Any]]:
    """The request's headers as (name, value) pairs, whatever aiohttp accepted them as."""
    if not headers:
        return []
    items = headers.items() if hasattr(headers, "items") else headers
    return list(items)


def _aws_signed(pairs: List[Tuple[Any, Any]]) -> bool:
    """A request signed for AWS (SigV4): aiobotocore's own, the AWS span's business (or
    untraced when that is disabled), never a second, generic span with headers added."""
    return any(str(name).lower() == "x-amz-date" for name, _ in pairs)


def start(call: Call) -> StartResult:
    args, kwargs = call.args, call.kwargs
    pairs = _pairs(kwargs.get("headers"))
    if _aws_signed(pairs):
        return None
    call.state = pairs
    if not call.recording:
        return "aiohttp-client", None, ("http",)
    session = args[0]
    target = args[2] if len(args) > 2 else kwargs["str_or_url"]
    if getattr(session, "_base_url", None) is not None:
        target = session._build_url(target)
    url, _, query = str(target).partition("#")[0].partition("?")
    settings = call.config
    http: Dict[str, Any] = {
        "url": mask_url_credentials(url),
        "method": str(args[1] if len(args) > 1 else kwargs["method"]).upper(),
    }
    params = [
        text
        for text in (render_params(query, settings), render_params(kwargs.get("params"), settings))
        if text
    ]
    if params:
        http["params"] = "&".join(params)
    if settings.extra_http_headers and pairs:
        captured = captured_headers(dict(pairs), settings)
        if captured:
            http["header"] = captured
    return "aiohttp-client", {"http": http}, ("http",)


def inject(call: Call) -> None:
    """The request's headers as new pairs with our context; the caller's object is untouched."""
    outgoing = [(k, v) for k, v in call.state if str(k).lower() not in CONTEXT_HEADERS]
    outgoing.extend(context_headers(call.span).items())
    call.kwargs = {**call.kwargs, "headers": outgoing}


def end(call: Call, response: Any, exc: Optional[BaseException]) -> None:
    if response is None:
        return
    span = call.span
    http = span.data["http"]
    status = getattr(response, "status", None)
    if isinstance(status, int):
        http["status"] = status
        if status >= 500:
            span.mark_error(f"{status} {getattr(response, 'reason', '') or ''}".rstrip())
    add_response_headers(call, getattr(response, "headers", None))


PATCHES = {
    "aiohttp.client": (Method("ClientSession", "_request", start, end, inject=inject),),
}
