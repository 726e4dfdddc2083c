"""What every instrumentation shares: whether it may act now, and guarded failure reporting."""

from __future__ import annotations

import contextlib
from typing import Optional

from .. import log
from ..client import get_client
from ..config import Config
from ..span import EXIT, Span
from ..tracer import current_span


def traced_parent(names: frozenset[str]) -> Optional[Span]:
    """The span an exit would belong to, or None when this call must pass through untouched.

    Untouched means: no trace active, already inside an exit (botocore's own urllib3 request
    is part of the boto3 span, and urllib3 retries are part of the first attempt), tracing
    off, or the instrumentation disabled by configuration.
    """
    parent = current_span()
    if parent is None or parent.kind == EXIT:
        return None
    client = get_client()
    if not client.tracing or not names.isdisjoint(client.config.disabled_instrumentations):
        return None
    return parent


def config() -> Config:
    return get_client().config


def tracer_bug(what: str) -> None:
    """Report a failure of our own code; the user's call goes on as if we were not there."""
    with contextlib.suppress(Exception):
        log.logger().debug("instana_serverless: %s failed", what, exc_info=True)
