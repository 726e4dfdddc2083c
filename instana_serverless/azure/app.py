"""``instrument_function_app``: trace every function of a ``FunctionApp`` or ``Blueprint``.

Unlike the per-function decorator it knows each function's declared trigger binding, its
parameter name, its function name and its HTTP route.
"""

from __future__ import annotations

from typing import Any, List, Optional, TypeVar

from .. import log
from .wrapper import MARK, FunctionTarget, target_of, wrap_function

A = TypeVar("A")

_HOOKED = "__instana_azure_hooked__"


def _text(value: Any) -> Optional[str]:
    text = getattr(value, "value", value)  # enums such as the binding type
    return text if isinstance(text, str) and text else None


def _instrument_function(function: Any) -> None:
    user = function.get_user_function()
    trigger = function.get_trigger()
    binding = _text(getattr(trigger, "type", None)) if trigger is not None else None
    param = _text(getattr(trigger, "name", None)) if trigger is not None else None
    route = _text(getattr(trigger, "route", None)) if trigger is not None else None
    try:
        function_name = _text(function.get_function_name())
    except Exception:
        function_name = None
    wrapped = wrap_function(user)
    target: Optional[FunctionTarget] = target_of(wrapped)
    if target is None:  # not something we can wrap (e.g. a generator)
        return
    target.set_bindings(
        binding=binding, trigger_param=param, function_name=function_name, route=route
    )
    if wrapped is not user:
        function._func = wrapped


def _instrument_builders(container: Any) -> int:
    builders: List[Any] = getattr(container, "_function_builders", None) or []
    done = 0
    for builder in list(builders):
        function = getattr(builder, "_function", None)
        if function is None:
            continue
        try:
            _instrument_function(function)
            done += 1
        except Exception as exc:  # one odd function must not cost the others their tracing
            log.logger().debug("azure: %r not instrumented: %r", builder, exc)
    return done


def _hook_indexing(app: Any) -> None:
    """Instrument again when the worker indexes the app, catching functions declared after
    this call (and blueprints registered later)."""
    if getattr(app, _HOOKED, False) or not callable(getattr(app, "get_functions", None)):
        return
    original = app.get_functions

    def get_functions() -> Any:
        _instrument_builders(app)
        return original()

    app.get_functions = get_functions
    setattr(app, _HOOKED, True)


def instrument_function_app(app: A) -> A:
    """Trace all functions of ``app`` (a ``FunctionApp`` or ``Blueprint``); returns ``app``.

    Call it once after creating the app (functions declared later are instrumented when the
    worker indexes the app) or after the last function of a blueprint. Functions already
    decorated with ``@azure_function`` are not wrapped twice. Idempotent.
    """
    try:
        if not hasattr(app, "_function_builders"):
            log.config_warning(
                f"instrument_function_app: {app!r} is not an azure.functions FunctionApp or "
                "Blueprint; nothing instrumented"
            )
            return app
        _instrument_builders(app)
        _hook_indexing(app)
    except Exception as exc:
        log.logger().debug("azure: instrument_function_app failed: %r", exc)
    return app


__all__ = ["MARK", "instrument_function_app"]
