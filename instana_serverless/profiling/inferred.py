"""From one invocation's stack samples to the function calls worth a span of their own.

Samples arrive run-length encoded: a run is consecutive samples with the same stack. A call
(one frame) is open from the first sample that shows it to the last; it started somewhere
between the sample before and its first sample, and ended between its last sample and the one
after, so each edge is put half way: each is off by at most half the gap between two samples,
and a duration by at most one gap (one sampling interval, plus what the sampler waited for the
GIL).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Dict, List, Optional, Sequence, Tuple

    from .frames import Stack

# Spans inferred for one invocation at most; the longest are kept.
MAX_INFERRED = 50


class Run:
    """Consecutive samples of one thread with the same stack."""

    __slots__ = ("count", "first", "last", "seconds", "skip", "stack")

    def __init__(self, first: float, stack: Stack, skip: int, seconds: float) -> None:
        self.first = first
        self.last = first
        self.count = 1
        self.seconds = seconds
        self.stack = stack
        self.skip = skip


class Call:
    """One function call seen in the samples, with its estimated start and end (perf seconds)."""

    __slots__ = (
        "code",
        "depth",
        "end",
        "end_gap",
        "first_seen",
        "frame_id",
        "parent",
        "samples",
        "start",
        "start_gap",
    )

    def __init__(
        self, frame_id: int, code: CodeType, start: float, parent: Optional[Call], depth: int
    ) -> None:
        self.frame_id = frame_id
        self.code = code
        self.start = start
        self.end = start
        # The gaps between the samples around each edge: each edge is off by at most half.
        self.start_gap = 0.0
        self.end_gap = 0.0
        self.samples = 0
        self.parent = parent
        self.depth = depth
        self.first_seen = start  # the first sample that showed the call

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def uncertainty(self) -> float:
        """How far the duration can be from the truth, at most (seconds)."""
        return (self.start_gap + self.end_gap) / 2


def calls(runs: Sequence[Run], start: float, end: float) -> List[Call]:
    """Every call below the handler seen in ``runs`` of an invocation from ``start`` to ``end``."""
    found: List[Call] = []
    open_calls: List[Call] = []
    previous = start
    for run in runs:
        frames = run.stack[run.skip :]
        edge = (previous + run.first) / 2
        gap = run.first - previous
        same = 0
        limit = min(len(open_calls), len(frames))
        while same < limit and open_calls[same].frame_id == frames[same][0]:
            if open_calls[same].code is not frames[same][1]:
                break
            same += 1
        for call in open_calls[same:]:
            call.end = edge
            call.end_gap = gap
        del open_calls[same:]
        for depth in range(same, len(frames)):
            frame_id, code = frames[depth]
            call = Call(frame_id, code, edge, open_calls[-1] if open_calls else None, depth)
            call.start_gap = gap
            call.first_seen = run.first
            found.append(call)
            open_calls.append(call)
        for call in open_calls:
            call.samples += run.count
        previous = run.last
    edge = (previous + end) / 2 if end > previous else previous
    for call in open_calls:
        call.end = edge
        call.end_gap = max(0.0, end - previous)
    for call in found:
        call.start = max(call.start, start)
        call.end = max(call.start, min(call.end, end))
    return found


def after_measured_siblings(
    kept: Sequence[Tuple[Call, Optional[Call]]], siblings: Sequence[Tuple[float, float]]
) -> List[Tuple[float, float]]:
    """(start, end) of each kept call, no call starting before a measured span under the same
    parent (``siblings``: the real spans directly under the entry) that ended before the call
    was first seen: half way between two samples is only an estimate, the measured span's end
    is not. A call's children never start before it."""
    placed: Dict[int, float] = {}
    result: List[Tuple[float, float]] = []
    for call, parent in kept:
        if parent is None:
            ended = [end for _, end in siblings if end <= call.first_seen]
            lower = max(ended, default=call.start)
        else:
            lower = placed.get(id(parent), call.start)
        start = min(max(call.start, lower), call.first_seen)
        placed[id(call)] = start
        result.append((start, max(call.end, start)))
    return result


def significant(
    found: Sequence[Call],
    min_s: float,
    covered: Sequence[Tuple[float, float]],
    slack_s: float,
) -> List[Tuple[Call, Optional[Call]]]:
    """The calls that last at least ``min_s`` and are not inside a real exit span (``covered``),
    each with the nearest kept ancestor (None: directly under the entry span)."""
    dropped = set()
    kept: List[Call] = []
    for call in found:
        parent = call.parent
        if parent is not None and id(parent) in dropped:
            dropped.add(id(call))
            continue
        inside_exit = any(
            call.start >= begin - slack_s and call.end <= finish + slack_s
            for begin, finish in covered
        )
        if inside_exit or call.duration < min_s or call.samples < 1:
            dropped.add(id(call))
            continue
        kept.append(call)
    if len(kept) > MAX_INFERRED:
        kept.sort(key=lambda call: (-call.duration, call.depth))
        del kept[MAX_INFERRED:]
        kept.sort(key=lambda call: (call.start, call.depth))
    kept_ids = {id(call) for call in kept}
    result: List[Tuple[Call, Optional[Call]]] = []
    for call in kept:
        ancestor = call.parent
        while ancestor is not None and id(ancestor) not in kept_ids:
            ancestor = ancestor.parent
        result.append((call, ancestor))
    return result
