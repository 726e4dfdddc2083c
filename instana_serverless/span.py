"""Spans and the trace they belong to, and their wire form (docs/CONTRACT.md §4)."""

from __future__ import annotations

from time import perf_counter, time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple


ENTRY = 1
EXIT = 2
INTERMEDIATE = 3

KIND_NAMES = {ENTRY: "entry", EXIT: "exit", INTERMEDIATE: "intermediate"}

# Entry span names the Instana backend knows, each with the data section that carries its
# error: the registered entry spans of Instana's Python sensor (python-sensor,
# ``src/instana/span/kind.py``, ``ENTRY_SPANS``). ``entry_span(name)`` sends any other name in
# the SDK form (``n: "sdk"``, ``data.sdk.name``), as Instana's sensors do for custom spans.
REGISTERED_ENTRY_SPANS = {
    "aioamqp-consumer": "rabbitmq",
    "aiohttp-server": "http",
    "asgi": "http",
    "aws.lambda.entry": "lambda",
    "celery-worker": "celery",
    "django": "http",
    "gcps-consumer": "gcps",
    "kafka-consumer": "kafka",
    "rabbitmq": "rabbitmq",
    "rpc-server": "rpc",
    "tornado-server": "http",
    "wsgi": "http",
}

# Error messages and summaries are kept short: the backend truncates anyway and
# a huge traceback in a span costs bytes on every flush.
MAX_ERROR_LENGTH = 1000


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` for a span's error; never raises.

    The exception is the user's: its ``__str__`` may raise or return something odd, and
    rendering it must never replace the exception on its way back to the caller.
    """
    try:
        name = type(exc).__name__
        text = str(exc)
    except Exception:
        try:
            return f"{type(exc).__name__}: <exception message could not be rendered>"
        except Exception:
            return "<exception could not be rendered>"
    if not isinstance(name, str):  # a metaclass may say anything
        name = "<exception>"
    return f"{name}: {text}" if text else name


class Trace:
    """What every span of one trace shares: ids, W3C state and whether it is recorded."""

    __slots__ = (
        "correlation_id",
        "correlation_type",
        "instana_ancestor",
        "long_trace_id",
        "recording",
        "synthetic",
        "trace_id",
        "traceparent_used",
        "tracestate",
        "w3c_trace_id",
    )

    def __init__(
        self,
        trace_id: str,
        *,
        long_trace_id: Optional[str] = None,
        w3c_trace_id: Optional[str] = None,
        tracestate: Tuple[str, ...] = (),
        recording: bool = True,
        synthetic: bool = False,
        traceparent_used: bool = False,
        instana_ancestor: Optional[Tuple[str, str]] = None,
        correlation_type: Optional[str] = None,
        correlation_id: Optional[str] = None,
    ) -> None:
        self.trace_id = trace_id
        self.long_trace_id = long_trace_id
        # The W3C trace id travels on unchanged so W3C-only systems keep one trace.
        self.w3c_trace_id = w3c_trace_id or long_trace_id or "0" * 16 + trace_id
        self.tracestate = tracestate
        self.recording = recording
        self.synthetic = synthetic
        self.traceparent_used = traceparent_used
        self.instana_ancestor = instana_ancestor
        self.correlation_type = correlation_type
        self.correlation_id = correlation_id


if TYPE_CHECKING:
    FinishHook = Callable[["Span"], None]


class Span:
    """One unit of work. Mutable while open; turned into a dict by ``to_wire`` when flushed."""

    __slots__ = (
        "_on_finish",
        "_perf_start",
        "data",
        "duration_ms",
        "error_count",
        "error_path",
        "kind",
        "name",
        "parent_id",
        "span_id",
        "stack",
        "start_ms",
        "trace",
    )

    def __init__(
        self,
        trace: Trace,
        span_id: str,
        parent_id: Optional[str],
        name: str,
        kind: int,
        data: Optional[Dict[str, Any]],
        on_finish: Optional[FinishHook],
        error_path: Tuple[str, ...],
    ) -> None:
        self.trace = trace
        self.span_id = span_id
        self.parent_id = parent_id
        self.name = name
        self.kind = kind
        self.data: Dict[str, Any] = data if data is not None else {}
        self.error_count = 0
        self.error_path = error_path
        self.duration_ms: Optional[float] = None
        # exits only: the caller's frames ([{"c", "n", "m"}], innermost first)
        self.stack: Optional[List[Dict[str, Any]]] = None
        self.start_ms = time() * 1000.0
        self._perf_start = perf_counter()
        self._on_finish = on_finish

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

    @property
    def recording(self) -> bool:
        return self.trace.recording

    @property
    def finished(self) -> bool:
        return self.duration_ms is not None

    def set_data(self, section: str, values: Dict[str, Any]) -> None:
        """Merge ``values`` into ``data[section]``."""
        existing = self.data.get(section)
        if existing is None:
            self.data[section] = dict(values)
        else:
            existing.update(values)

    def mark_error(self, message: Optional[str] = None) -> None:
        """Count an error; the message goes where this span's kind keeps it (data.lambda.error…)."""
        self.error_count += 1
        if message is None or not self.error_path:
            return
        target = self.data
        for key in self.error_path:
            target = target.setdefault(key, {})
        target["error"] = message[:MAX_ERROR_LENGTH]

    def record_exception(self, exc: BaseException) -> None:
        message = describe_exception(exc)
        if self.error_count and self.error_path:
            # Already recorded on its way out (by a framework row or the middleware inside
            # this entry): one failure counts once.
            target: Any = self.data
            for key in self.error_path:
                target = target.get(key) if isinstance(target, dict) else None
            if isinstance(target, dict) and target.get("error") == message[:MAX_ERROR_LENGTH]:
                return
        self.mark_error(message)

    def finish(self) -> None:
        """End the span once; later calls do nothing (a timeout guard and the wrapper may race)."""
        if self.duration_ms is not None:
            return
        self.duration_ms = (perf_counter() - self._perf_start) * 1000.0
        if self._on_finish is not None:
            self._on_finish(self)

    def to_wire(self, source: Dict[str, Any]) -> Dict[str, Any]:
        """The span as the backend reads it; optional keys are left out rather than null."""
        duration = self.duration_ms
        if duration is None:  # flushed while open, e.g. by the timeout guard
            duration = (perf_counter() - self._perf_start) * 1000.0
        wire: Dict[str, Any] = {
            "t": self.trace.trace_id,
            "s": self.span_id,
            "ts": int(self.start_ms),
            "d": int(duration + 0.5),
            "n": self.name,
            "k": self.kind,
            "ec": self.error_count,
            "f": source,
            "data": self.data,
        }
        if self.parent_id is not None:
            wire["p"] = self.parent_id
        if self.stack is not None:
            wire["stack"] = self.stack
        if self.kind == ENTRY:
            trace = self.trace
            if trace.long_trace_id is not None:
                wire["lt"] = trace.long_trace_id
            if trace.synthetic:
                wire["sy"] = True
            if trace.traceparent_used:
                wire["tp"] = True
            if trace.instana_ancestor is not None:
                wire["ia"] = {"t": trace.instana_ancestor[0], "p": trace.instana_ancestor[1]}
            if trace.correlation_type is not None:
                wire["crtp"] = trace.correlation_type
            if trace.correlation_id is not None:
                wire["crid"] = trace.correlation_id
        return wire

    def __repr__(self) -> str:
        return f"<Span {self.name} k={self.kind} t={self.trace.trace_id} s={self.span_id}>"
