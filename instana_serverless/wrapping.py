"""What every platform wrapper does once, when it wraps a handler (the function's init phase)."""

from __future__ import annotations

from . import log


def on_wrap() -> None:
    """Patch the outgoing-call libraries and open the backend connection in the background.

    Both overlap the user's own init instead of delaying the first invocation. Never raises:
    without them exits go untraced and the first flush connects, but the handler still works.
    """
    instrument_exits()
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
