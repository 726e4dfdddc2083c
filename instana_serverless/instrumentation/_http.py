"""What the HTTP client instrumentations share: the request's query and captured headers, and
the response's status and captured headers, in ``data.http``."""

from __future__ import annotations

from ..http_data import captured_headers, record_status, render_params

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

    from ..config import Config
    from ._wrap import Call


def add_request_details(http: Dict[str, Any], query: str, headers: Any, settings: Config) -> None:
    """``params`` (secrets masked) and the request headers the user asked to capture."""
    if query:
        params = render_params(query, settings)
        if params:
            http["params"] = params
    if settings.extra_http_headers and headers:
        captured = captured_headers(headers, settings)
        if captured:
            http["header"] = captured


def add_response_headers(call: Call, headers: Any) -> None:
    """The response headers the user asked to capture, next to the request's."""
    settings = call.config
    if settings.extra_http_headers:
        captured = captured_headers(headers, settings)
        if captured:
            call.span.data["http"].setdefault("header", {}).update(captured)


def record_response(call: Call, status: Any, headers: Any) -> None:
    record_status(call.span, status)
    add_response_headers(call, headers)


def end(call: Call, response: Any, exc: Optional[BaseException]) -> None:
    """The end of a client whose response has ``status`` and ``headers`` (http.client, urllib3)."""
    if response is None:
        return
    record_response(call, getattr(response, "status", None), getattr(response, "headers", None))
