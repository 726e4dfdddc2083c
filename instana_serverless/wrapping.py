"""What every platform wrapper does once, when it wraps a handler (the function's init phase).

The public ``instrument()`` does the same minus the prewarm, for servers no wrapper covers
(a gRPC server, a queue consumer): their entries then follow the platform's send rule too.
"""

from __future__ import annotations

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from .client import Client


def on_wrap() -> None:
    """Patch the outgoing-call libraries and open the backend connection in the background.

    Both overlap the user's own init instead of delaying the first invocation. Never raises:
    without them exits go untraced and the first flush connects, but the handler still works.
    """
    instrument_exits()
    use_platform_send_rule()
    try:
        from .client import get_client

        get_client().prewarm()
    except Exception as exc:
        log.logger().debug("prewarm failed: %r", exc)


def instrument_exits() -> None:
    """Patch the outgoing-call libraries (idempotent); never raises."""
    try:
        from .instrumentation import instrument

        instrument()
    except Exception as exc:
        log.logger().debug("instrumentation failed: %r", exc)


def use_platform_send_rule() -> None:
    """Install the platform's send rule (``sending``) where it has one of its own: Cloud Run
    (request-based billing or CPU always allocated), Fargate (the background reporter sends).
    Never raises."""
    try:
        from .platform import CLOUD_RUN, FARGATE, detect

        kind = detect()
        if kind == CLOUD_RUN:
            from .gcp import runtime

            runtime.start()
        elif kind == FARGATE:
            from .fargate import reporter

            reporter.use_send_rule()
    except Exception as exc:
        log.logger().debug("platform send rule not installed: %r", exc)


def instrument(client: Optional[Client] = None) -> None:
    """Instrument the supported libraries that are (or later get) imported; idempotent. On a
    platform with a send rule of its own, entries opened by instrumentations (servers,
    consumers) follow it."""
    from .instrumentation import instrument as instrument_libraries

    instrument_libraries(client)
    use_platform_send_rule()
