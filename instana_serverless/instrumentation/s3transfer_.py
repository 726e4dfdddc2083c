"""Keep the trace across s3transfer's worker threads (``upload_file``, ``download_file`` …).

boto3's managed transfers run their S3 calls on a thread pool, where no span is active, so
they would go untraced. Each task submitted from traced work carries the submitter's span
into the worker; the S3 calls made there become exits of that span as usual.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Callable, Optional

from ..span import Span
from ..tracer import activate, restore
from ._common import traced_parent, tracer_bug
from .botocore_ import NAMES

MODULE = "s3transfer.futures"

_original: Optional[Callable[..., Any]] = None


class _InSpan:
    """A task that runs with ``span`` active; everything else is the task's own."""

    __slots__ = ("_span", "_task")

    def __init__(self, task: Any, span: Span) -> None:
        self._task = task
        self._span = span

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = activate(self._span)
        try:
            return self._task(*args, **kwargs)
        finally:
            restore(token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def __repr__(self) -> str:
        return repr(self._task)


def _traced_submit(self: Any, task: Any, tag: Any = None, block: bool = True) -> Any:
    original = _original
    assert original is not None
    try:
        parent = traced_parent(NAMES)
        if parent is not None:
            task = _InSpan(task, parent)
    except Exception:
        tracer_bug("carrying the trace into an s3transfer task")
    return original(self, task, tag, block)


_traced_submit.__instana_wrapped__ = True  # type: ignore[attr-defined]


def patch(module: ModuleType) -> None:
    global _original
    executor = module.BoundedExecutor
    current = executor.submit
    if getattr(current, "__instana_wrapped__", False):
        return
    _original = current
    _traced_submit.__wrapped__ = current  # type: ignore[attr-defined]
    executor.submit = _traced_submit


def unpatch() -> None:
    global _original
    module = sys.modules.get(MODULE)
    if module is None or _original is None:
        return
    module.BoundedExecutor.submit = _original
    _original = None
