"""What every instrumentation shares: whether it may act now, and guarded failure reporting."""

from __future__ import annotations

import contextlib
import sys
from types import ModuleType
from typing import Any, Callable, Optional

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


def call_in_exit(
    span: Span,
    token: Any,
    after: Callable[[Span, Any, Any, Optional[BaseException]], None],
    call: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``call(*args, **kwargs)`` as the work of the exit ``span``; ``after`` ends it either way."""
    try:
        result = call(*args, **kwargs)
    except BaseException as exc:
        after(span, token, None, exc)
        raise
    after(span, token, result, None)
    return result


class MethodPatch:
    """Replaces ``<class>.<method>`` of a module with a traced wrapper, once, and undoes it.

    The wrapper calls ``original``; a method already wrapped (by an earlier ``instrument()``
    of another copy of us) is left as it is.
    """

    def __init__(
        self, module_name: str, class_name: str, method: str, wrapper: Callable[..., Any]
    ) -> None:
        self.module_name = module_name
        self.class_name = class_name
        self.method = method
        self.wrapper = wrapper
        self.original: Optional[Callable[..., Any]] = None
        wrapper.__instana_wrapped__ = True  # type: ignore[attr-defined]

    def apply(self, module: ModuleType) -> None:
        owner = getattr(module, self.class_name)
        current = getattr(owner, self.method)
        if getattr(current, "__instana_wrapped__", False):
            return
        self.original = current
        self.wrapper.__wrapped__ = current  # type: ignore[attr-defined]
        setattr(owner, self.method, self.wrapper)

    def restore(self) -> None:
        module = sys.modules.get(self.module_name)
        if module is None or self.original is None:
            return
        setattr(getattr(module, self.class_name), self.method, self.original)
        self.original = None
