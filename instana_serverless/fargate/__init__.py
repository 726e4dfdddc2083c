"""AWS Fargate (ECS) support: background reporting with task, container and Docker metrics.

``start()`` runs the background reporter (the WSGI/ASGI middleware does it for you when
``AWS_EXECUTION_ENV=AWS_ECS_FARGATE``). Entity and host id: ``<taskArn>::<containerName>``.
Names are loaded on first access: importing the package starts nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .reporter import FargateReporter, start

__all__ = ["FargateReporter", "start"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import reporter

        return getattr(reporter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
