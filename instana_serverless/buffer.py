"""A bounded buffer of finished spans that survives failed flushes."""

from __future__ import annotations

from _thread import allocate_lock
from collections import deque

from .span import Span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Deque, List, Sequence

DEFAULT_CAPACITY = 1000


class SpanBuffer:
    """Keeps the newest ``capacity`` spans; older ones are dropped and counted."""

    __slots__ = ("_lock", "_spans", "added", "capacity", "dropped")

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.dropped = 0
        # Spans ever added: a flush that drains after this count was read carries all of them.
        self.added = 0
        self._spans: Deque[Span] = deque()
        self._lock = allocate_lock()

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, span: Span) -> None:
        with self._lock:
            self._spans.append(span)
            self.added += 1
            if len(self._spans) > self.capacity:
                self._spans.popleft()
                self.dropped += 1

    def reset_after_fork(self) -> None:
        """In a forked child: the parent reports the spans it had, and its lock may be held."""
        self._lock = allocate_lock()
        self._spans = deque()
        self.added = 0

    def drain(self) -> List[Span]:
        with self._lock:
            spans = list(self._spans)
            self._spans.clear()
            return spans

    def requeue(self, spans: Sequence[Span]) -> None:
        """Put unsent spans back in front of any that finished since the drain."""
        if not spans:
            return
        with self._lock:
            merged = deque(spans)
            merged.extend(self._spans)
            overflow = len(merged) - self.capacity
            for _ in range(max(0, overflow)):
                merged.popleft()
            self.dropped += max(0, overflow)
            self._spans = merged
