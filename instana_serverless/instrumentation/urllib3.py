"""Exit spans ``urllib3`` for requests and urllib3 calls, with trace headers injected.

Patching ``HTTPConnectionPool.urlopen`` covers ``requests`` too (it sends through urllib3),
so one logical request gives one span. The span is active while urllib3 works: its internal
retries re-enter ``urlopen`` inside it and pass through (an entry covers itself).
"""

from __future__ import annotations

from ..secrets import mask_url_credentials
from ..tracer import context_headers
from ._common import CONTEXT_HEADERS
from ._http import add_request_details, end
from ._patches import Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Tuple

    from ._wrap import Call, StartResult

_DEFAULT_PORTS = {"http": 80, "https": 443}

# urlopen(self, method, url, body=None, headers=None, ...): where headers sits in args.
_HEADERS_AT = 4


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


def _arg(call: Call, index: int, name: str) -> Any:
    """An argument of ``urlopen(self, method, url, body=None, headers=None, ...)``, given by
    position or keyword (requests passes them all by keyword)."""
    args = call.args
    return args[index] if len(args) > index else call.kwargs.get(name)


def start(call: Call) -> StartResult:
    pool = call.args[0]
    method = _arg(call, 1, "method")
    url = _arg(call, 2, "url")
    if type(pool).__module__.startswith("botocore"):
        # botocore's own pools: AWS calls are the boto3 span's business (or untraced when
        # boto3 is disabled), never a second, generic HTTP span with headers in a signed request.
        return None
    headers = _arg(call, _HEADERS_AT, "headers")
    base = headers if headers is not None else pool.headers
    call.state = base
    if not call.recording:
        return "urllib3", None, ("http",)
    settings = call.config
    full_url, host, path, query = _target(pool, str(url))
    http: Dict[str, Any] = {
        "method": str(method).upper(),
        "url": mask_url_credentials(full_url),
        "host": host,
        "path": path,
    }
    add_request_details(http, query, base, settings)
    return "urllib3", {"http": http}, ("http",)


def inject(call: Call) -> None:
    """A copy of the request headers with our context; the caller's dict is never touched."""
    base: Mapping[str, Any] = call.state
    outgoing = {k: v for k, v in base.items() if str(k).lower() not in CONTEXT_HEADERS}
    outgoing.update(context_headers(call.span))
    args = call.args
    if len(args) > _HEADERS_AT:
        call.args = (*args[:_HEADERS_AT], outgoing, *args[_HEADERS_AT + 1 :])
    elif len(args) == _HEADERS_AT:
        call.args = (*args, outgoing)
    else:
        call.kwargs = {**call.kwargs, "headers": outgoing}


PATCHES = {
    "urllib3.connectionpool": (Method("HTTPConnectionPool", "urlopen", start, end, inject=inject),),
}
