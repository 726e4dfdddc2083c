"""The layer's function handler: ``instana_serverless.lambda_layer.handler``.

Users of the layer change no code: they set the function's handler to
``instana_serverless.lambda_layer.handler`` and put their own handler in ``LAMBDA_HANDLER``,
written like Lambda's handler setting (``module.function``, ``package.module.function`` or
``path/module.function``). The original handler is loaded once, when the runtime imports this
module during init; a ``LAMBDA_HANDLER`` that cannot be loaded fails the init with a message
naming the variable, as a wrong handler setting would.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable, Optional

from .aws_lambda import lambda_handler

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


def make_handler(spec: Optional[str] = None) -> Callable[[Any, Any], Any]:
    """The traced handler for ``spec`` (default: the ``LAMBDA_HANDLER`` variable)."""
    return lambda_handler(load_handler(os.environ.get(HANDLER_VARIABLE) if spec is None else spec))


handler = make_handler()
