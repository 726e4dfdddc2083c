"""Starlette and FastAPI: the matched route's path as the route template, and the request's
failure taken before ``ServerErrorMiddleware`` turns it into a 500 (an exception no handler
took, an ``HTTPException`` of 500 or more with its ``detail``), for the entry span already
serving the request (docs/INSTRUMENTATION.md)."""

from __future__ import annotations

from ._framework import entry_for, observe, set_error, set_route
from ._patches import Custom
from ._wrap import is_coroutine_function

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Tuple

    from ..span import Span
    from .registry import Entry


def routed(span: Span, args: Tuple[Any, ...]) -> None:
    """``Route.handle(scope, …)`` runs for the route the router matched: its ``path``
    (``/users/{user_id}``), behind the path of any ``Mount`` it sits in."""
    route, scope = args[0], args[1]
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return
    prefix = ""
    if isinstance(scope, dict):
        root = scope.get("root_path") or ""
        app_root = scope.get("app_root_path")
        if isinstance(root, str) and isinstance(app_root, str) and root.startswith(app_root):
            prefix = root[len(app_root) :]
    set_route(span, prefix + path)


def unhandled(span: Span, args: Tuple[Any, ...], exc: BaseException) -> None:
    """``exc`` left the route: unless it is an ``HTTPException`` below 500 (the 405 a route
    raises itself), an exception handler or the server-error layer answers it with a 5xx."""
    status = getattr(exc, "status_code", None)
    if not (isinstance(status, int) and status < 500):
        set_error(span, exc)


def http_exception_handler(
    row: Entry, handler: Callable[..., Any], owner: Any
) -> Callable[..., Any]:
    """An exception handler for ``HTTPException`` that first notes a 5xx's ``detail``."""

    def note(exc: Any) -> None:
        try:
            if not getattr(owner.__init__, "__instana_wrapped__", False):
                return  # uninstrumented since this app was built: its handlers stay quiet
            span = entry_for(row)
            status = getattr(exc, "status_code", None)
            if span is not None and isinstance(status, int) and status >= 500:
                detail = getattr(exc, "detail", None)
                set_error(span, detail if isinstance(detail, str) and detail else exc)
        except Exception:
            from ._common import tracer_bug

            tracer_bug(f"{row.name} hook")

    if is_coroutine_function(handler):

        async def noting_async(request: Any, exc: Any) -> Any:
            note(exc)
            return await handler(request, exc)

        return noting_async

    def noting(request: Any, exc: Any) -> Any:
        note(exc)
        return handler(request, exc)

    return noting


def exception_middleware_init(row: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    """``ExceptionMiddleware.__init__``: its ``HTTPException`` handlers (Starlette's, FastAPI's
    or the app's own) get a note of the 5xx first; built once per application."""

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        try:
            handlers = self._exception_handlers
            base = getattr(original, "__globals__", {}).get("HTTPException")
            for key, handler in list(handlers.items()):
                if isinstance(key, type) and base is not None and issubclass(key, base):
                    handlers[key] = http_exception_handler(row, handler, type(self))
        except Exception:
            from ._common import tracer_bug

            tracer_bug(f"{row.name} exception handlers")

    return init


_route = observe(before=routed, failed=unhandled)

PATCHES = {
    "starlette.routing": (Custom("Route", "handle", _route),),
    "starlette.middleware.exceptions": (
        Custom("ExceptionMiddleware", "__init__", exception_middleware_init),
    ),
    # FastAPI's APIRoute has its own handle, which usually does not call Route.handle
    "fastapi.routing": (Custom("APIRoute", "handle", _route),),
}
