"""Django: the resolved URL pattern as the route template, and an exception Django turns into
a 5xx, for the entry span already serving the request (docs/INSTRUMENTATION.md)."""

from __future__ import annotations

from ._framework import observe, set_error, set_route
from ._patches import Custom

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Tuple

    from ..span import Span


def resolved(span: Span, args: Tuple[Any, ...], result: Any) -> None:
    """``BaseHandler.resolve_request``: the ``ResolverMatch``; its ``route`` is the pattern as
    the official sensor sends it (``users/<int:user_id>``, includes joined)."""
    set_route(span, getattr(result, "route", None))


def converted(span: Span, args: Tuple[Any, ...], result: Any) -> None:
    """``response_for_exception(request, exc)``: a 5xx answer makes ``exc`` the request's
    failure; ``Http404``, ``PermissionDenied`` … are answers, not failures."""
    status = getattr(result, "status_code", None)
    if isinstance(status, int) and status >= 500 and len(args) > 1:
        set_error(span, args[1])


PATCHES = {
    "django.core.handlers.base": (
        Custom("BaseHandler", "resolve_request", observe(after=resolved)),
    ),
    # looked up as a module global at every call (convert_exception_to_response): replacing
    # it here works for handlers built before us too
    "django.core.handlers.exception": (
        Custom("", "response_for_exception", observe(after=converted)),
    ),
}
