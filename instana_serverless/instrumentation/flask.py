"""Flask: the matched URL rule as the route template, and the request's failure with its
message (an exception no error handler took, ``abort(503, "db down")``), for the entry span
already serving the request (docs/INSTRUMENTATION.md, "Web frameworks")."""

from __future__ import annotations

from ._framework import observe, set_error, set_route
from ._patches import Custom

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Tuple

    from ..span import Span


def matched(span: Span, args: Tuple[Any, ...], result: Any) -> None:
    """``RequestContext.match_request``: Flask's router has set ``request.url_rule``."""
    rule = getattr(getattr(args[0], "request", None), "url_rule", None)
    template = getattr(rule, "rule", None)
    if isinstance(template, str):
        # The official sensor's form: /users/<int:user_id> -> /users/{int:user_id}
        set_route(span, template.replace("<", "{").replace(">", "}"))


def unhandled(span: Span, args: Tuple[Any, ...], result: Any) -> None:
    """``Flask.handle_exception(e)``: no handler took ``e``; the answer is a 500."""
    if len(args) > 1:
        set_error(span, args[1])


def propagated(span: Span, args: Tuple[Any, ...], exc: BaseException) -> None:
    """``handle_exception`` re-raised (``PROPAGATE_EXCEPTIONS``, debug and testing)."""
    unhandled(span, args, None)


def http_exception(span: Span, args: Tuple[Any, ...], result: Any) -> None:
    """``Flask.handle_http_exception(e)``: ``abort(503, "db down")`` and the like; a 5xx is the
    request's failure, with werkzeug's text (``503 Service Unavailable: db down``)."""
    error = args[1] if len(args) > 1 else None
    code = getattr(error, "code", None)
    if isinstance(code, int) and code >= 500:
        set_error(span, str(error))


PATCHES = {
    "flask.ctx": (Custom("RequestContext", "match_request", observe(after=matched)),),
    "flask.app": (
        Custom("Flask", "handle_exception", observe(after=unhandled, failed=propagated)),
        Custom("Flask", "handle_http_exception", observe(after=http_exception)),
    ),
}
