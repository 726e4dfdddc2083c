"""The layer's function handler: ``instana_serverless.lambda_layer.handler``.

Users of the layer change no code: they set the function's handler to
``instana_serverless.lambda_layer.handler`` and put their own handler in ``LAMBDA_HANDLER``,
written like Lambda's handler setting (``module.function``, ``package.module.function`` or
``path/module.function``). The original handler is loaded once, when the runtime imports this
module during init; a ``LAMBDA_HANDLER`` that cannot be loaded fails the init with a message
naming the variable, as a wrong handler setting would.
"""

from __future__ import annotations

import os

from .aws_lambda.decorator import wrap
from .aws_lambda.loader import HANDLER_VARIABLE, LAYER_HANDLER, HandlerLoadError, load_handler
from .aws_lambda.ssm import start_early
from .wrapping import instrument_exits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

__all__ = [
    "HANDLER_VARIABLE",
    "LAYER_HANDLER",
    "HandlerLoadError",
    "handler",
    "load_handler",
    "make_handler",
]


def make_handler(spec: Optional[str] = None) -> Callable[[Any, Any], Any]:
    """The traced handler for ``spec`` (default: the ``LAMBDA_HANDLER`` variable), served as
    this module's ``handler`` (so, where that is the function's handler, its invocations are
    sent after the response by the Lambda extension)."""
    # Instrument before the user's module runs, not only when its handler gets wrapped:
    # clients it creates at import time are then traced too (pymongo hands a client the
    # listeners registered when the client is created). The background prewarm waits for
    # wrap(), which registers the Lambda extension first.
    instrument_exits()
    # The agent key from SSM, when that is where it lives: its round trip overlaps the
    # user's module loading (wrap() would start it otherwise, once that is done).
    start_early()
    original = load_handler(os.environ.get(HANDLER_VARIABLE) if spec is None else spec)
    return wrap(original, LAYER_HANDLER)


handler = make_handler()
