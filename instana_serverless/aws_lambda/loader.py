"""Resolving ``LAMBDA_HANDLER`` (``module.function``) to the user's original handler.

Kept apart from ``lambda_layer``, which loads the handler as it is imported, so that the
``doctor`` command can check a handler setting without failing on import itself.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

HANDLER_VARIABLE = "LAMBDA_HANDLER"
LAYER_HANDLER = "instana_serverless.lambda_layer.handler"


class HandlerLoadError(ImportError):
    """``LAMBDA_HANDLER`` is missing or names nothing callable.

    An ImportError, so the runtime reports it as ``Runtime.ImportModuleError`` with our message.
    """


def load_handler(spec: Optional[str]) -> Callable[..., Any]:
    """The callable ``spec`` (``module.function``) names; raises ``HandlerLoadError``."""
    if spec is None or not spec.strip():
        raise HandlerLoadError(
            f"{HANDLER_VARIABLE} is not set: set it to your original handler "
            f"(e.g. 'app.handler') when the function handler is {LAYER_HANDLER}"
        )
    spec = spec.strip()
    module_name, _, function_name = spec.rpartition(".")
    module_name = module_name.replace("/", ".").strip(".")
    if not module_name or not function_name:
        raise HandlerLoadError(f"{HANDLER_VARIABLE}={spec!r} is not of the form 'module.function'")
    if spec == LAYER_HANDLER:
        raise HandlerLoadError(
            f"{HANDLER_VARIABLE}={spec!r} names this layer's own handler; set it to your "
            "original handler"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerLoadError(
            f"{HANDLER_VARIABLE}={spec!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    target = getattr(module, function_name, None)
    if target is None:
        raise HandlerLoadError(
            f"{HANDLER_VARIABLE}={spec!r}: module {module_name!r} has no {function_name!r}"
        )
    if not callable(target):
        raise HandlerLoadError(
            f"{HANDLER_VARIABLE}={spec!r}: {function_name!r} in {module_name!r} is not callable"
        )
    return target  # type: ignore[no-any-return]
