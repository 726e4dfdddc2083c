"""Keep the trace across s3transfer's worker threads (``upload_file``, ``download_file`` …).

boto3's managed transfers run their S3 calls on a thread pool, where no span is active, so
they would go untraced. Each task submitted from traced work carries the submitter's span
into the worker; the S3 calls made there become exits of that span as usual.
"""

from __future__ import annotations

from typing import Any

from ..span import Span
from ..tracer import activate, restore
from ._common import MethodPatch, traced_parent, tracer_bug
from .botocore_ import NAMES

MODULE = "s3transfer.futures"


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
    original = _patch.original
    assert original is not None
    try:
        parent = traced_parent(NAMES)
        if parent is not None:
            task = _InSpan(task, parent)
    except Exception:
        tracer_bug("carrying the trace into an s3transfer task")
    return original(self, task, tag, block)


_patch = MethodPatch(MODULE, "BoundedExecutor", "submit", _traced_submit)
patch = _patch.apply
unpatch = _patch.restore
