"""What every instrumentation shares: the configuration in force and guarded failure reporting."""

from __future__ import annotations

from .. import log
from ..client import get_client

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..config import Config

# Trace headers we set on outgoing requests. Ours replace any the caller set: a stale context
# copied from an incoming request would otherwise link the call into the wrong trace.
CONTEXT_HEADERS = frozenset(
    ("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate")
)


def config() -> Config:
    return get_client().config


def tracer_bug(what: str) -> None:
    """Report a failure of our own code; the user's call goes on as if we were not there."""
    try:  # noqa: SIM105  (no contextlib on the cold path)
        log.logger().debug("instana_serverless: %s failed", what, exc_info=True)
    except Exception:
        pass
