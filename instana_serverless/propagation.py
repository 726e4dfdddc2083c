"""Trace context in and out of HTTP-style headers (docs/CONTRACT.md §5).

Extraction never raises: a malformed, oversized or partial header is ignored and the
request starts a new trace, because a tracer must not break a request it observes.
"""

from __future__ import annotations

from .ids import is_hex, new_id, normalize_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

INSTANA_T = "x-instana-t"
INSTANA_S = "x-instana-s"
INSTANA_L = "x-instana-l"
INSTANA_SYNTHETIC = "x-instana-synthetic"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

# The incoming headers that carry context, lower case: servers look these up one by one
# instead of scanning every header of a request.
CONTEXT_HEADERS = (INSTANA_T, INSTANA_S, INSTANA_L, INSTANA_SYNTHETIC, TRACEPARENT, TRACESTATE)
_WANTED = frozenset(CONTEXT_HEADERS)

MAX_TRACESTATE_MEMBERS = 32
# Longer values cannot be valid (W3C caps tracestate at 32 members of 256 bytes) and are
# ignored before any parsing work is spent on them.
MAX_HEADER_LENGTH = 8192
MAX_CORRELATION_LENGTH = 256


class IncomingContext:
    """What the caller told us; ``None`` fields mean not given or not valid."""

    __slots__ = (
        "correlation_id",
        "correlation_type",
        "instana_ancestor",
        "long_trace_id",
        "parent_id",
        "suppressed",
        "synthetic",
        "trace_id",
        "traceparent_used",
        "tracestate",
        "w3c_trace_id",
    )

    def __init__(self) -> None:
        self.trace_id: Optional[str] = None
        self.parent_id: Optional[str] = None
        self.long_trace_id: Optional[str] = None
        self.w3c_trace_id: Optional[str] = None
        self.tracestate: Tuple[str, ...] = ()
        self.suppressed = False
        self.synthetic = False
        self.traceparent_used = False
        self.instana_ancestor: Optional[Tuple[str, str]] = None
        self.correlation_type: Optional[str] = None
        self.correlation_id: Optional[str] = None

    @property
    def continues_trace(self) -> bool:
        return self.trace_id is not None and self.parent_id is not None


def _first_string(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value if len(value) <= MAX_HEADER_LENGTH else None
    if isinstance(value, (list, tuple)) and value:
        return _first_string(value[0])
    return None


def _joined_string(value: Any) -> Optional[str]:
    """Multi-value tracestate headers are one list, joined with commas (W3C §3.3.1.1)."""
    if isinstance(value, (list, tuple)):
        parts = [v for v in value if isinstance(v, str)]
        value = ",".join(parts) if parts else None
    if isinstance(value, str) and len(value) <= MAX_HEADER_LENGTH:
        return value
    return None


def collect_headers(*sources: Optional[Mapping[Any, Any]]) -> Dict[str, Any]:
    """The tracing headers among ``sources``, keyed lower-case; earlier sources win."""
    found: Dict[str, Any] = {}
    for source in sources:
        if not source or not hasattr(source, "items"):
            continue
        try:
            items: Iterable[Tuple[Any, Any]] = source.items()
            for key, value in items:
                if isinstance(key, str):
                    lowered = key.lower()
                    if lowered in _WANTED and lowered not in found:
                        found[lowered] = value
        except Exception:  # an exotic mapping that fails to iterate is no context
            continue
    return found


def _parse_traceparent(value: str) -> Optional[Tuple[str, str, str]]:
    """(trace id 32, parent id 16, flags) or None; future versions may append fields."""
    value = value.strip().lower()
    parts = value.split("-")
    if len(parts) < 4:
        return None
    version, trace_id, parent_id, flags = parts[0], parts[1], parts[2], parts[3]
    if len(version) != 2 or not is_hex(version) or version == "ff":
        return None
    if version == "00" and len(parts) != 4:
        return None
    if len(flags) != 2 or not is_hex(flags):
        return None
    if len(trace_id) != 32 or normalize_id(trace_id, 32) is None:
        return None
    if len(parent_id) != 16 or normalize_id(parent_id, 16) is None:
        return None
    return trace_id, parent_id, flags


def _parse_tracestate(value: str) -> Tuple[Tuple[str, ...], Optional[Tuple[str, str]]]:
    """Members other than ours (at most 31, so ours fits) and the ``in=`` ancestor if valid."""
    members: List[str] = []
    ancestor: Optional[Tuple[str, str]] = None
    for raw in value.split(","):
        member = raw.strip()
        if not member or "=" not in member:
            continue
        key, _, member_value = member.partition("=")
        if key == "in":
            trace_part, _, span_part = member_value.partition(";")
            t = normalize_id(trace_part, 32 if len(trace_part) > 16 else 16)
            s = normalize_id(span_part, 16)
            if ancestor is None and t is not None and s is not None:
                ancestor = (t, s)
            continue
        if len(members) < MAX_TRACESTATE_MEMBERS - 1:
            members.append(member)
    return tuple(members), ancestor


def _parse_level(value: str) -> Tuple[bool, Optional[str], Optional[str]]:
    """(suppressed, correlation type, correlation id) from X-INSTANA-L."""
    level, _, rest = value.strip().partition(",")
    if level.strip() == "0":
        return True, None, None
    correlation_type = correlation_id = None
    for part in rest.split(";"):
        key, _, item = part.strip().partition("=")
        item = item.strip()
        if not item or len(item) > MAX_CORRELATION_LENGTH:
            continue
        key = key.strip().lower()
        if key == "correlationtype":
            correlation_type = item
        elif key == "correlationid":
            correlation_id = item
    return False, correlation_type, correlation_id


def extract(
    headers: Optional[Mapping[Any, Any]],
    *more: Optional[Mapping[Any, Any]],
    w3c_correlation: bool = True,
) -> IncomingContext:
    """Read the context from one or more header maps (``headers``, ``multiValueHeaders``…)."""
    ctx = IncomingContext()
    try:
        found = collect_headers(headers, *more) if more else collect_headers(headers)
        if found:
            _fill(ctx, found, w3c_correlation)
    except Exception:  # defensive: a tracer bug must not become the user's bug
        return IncomingContext()
    return ctx


def _fill(ctx: IncomingContext, found: Dict[str, Any], w3c_correlation: bool) -> None:
    level = _first_string(found.get(INSTANA_L))
    if level is not None:
        suppressed, ctx.correlation_type, ctx.correlation_id = _parse_level(level)
        if suppressed:
            ctx.suppressed = True
    synthetic = _first_string(found.get(INSTANA_SYNTHETIC))
    ctx.synthetic = synthetic is not None and synthetic.strip() == "1"

    traceparent_raw = _first_string(found.get(TRACEPARENT))
    traceparent = _parse_traceparent(traceparent_raw) if traceparent_raw else None
    tracestate_raw = _joined_string(found.get(TRACESTATE))
    ancestor = None
    if tracestate_raw:
        ctx.tracestate, ancestor = _parse_tracestate(tracestate_raw)
    if traceparent is not None:
        ctx.w3c_trace_id = traceparent[0]

    if ctx.correlation_type is not None or ctx.correlation_id is not None:
        # An EUM correlation starts a new trace that the backend links to the page load.
        return

    raw_t = _first_string(found.get(INSTANA_T))
    raw_s = _first_string(found.get(INSTANA_S))
    if raw_t is not None and raw_s is not None:
        raw_t, raw_s = raw_t.strip(), raw_s.strip()
        long_t = normalize_id(raw_t, 32) if len(raw_t) > 16 else None
        t = long_t[16:] if long_t is not None else normalize_id(raw_t, 16)
        s = normalize_id(raw_s, 16)
        if t is not None and s is not None:
            ctx.trace_id, ctx.parent_id, ctx.long_trace_id = t, s, long_t
            return

    if traceparent is not None and w3c_correlation:
        ctx.trace_id = traceparent[0][16:]
        ctx.long_trace_id = traceparent[0]
        ctx.parent_id = traceparent[1]
        ctx.traceparent_used = True
    if ancestor is not None:
        ctx.instana_ancestor = ancestor


def outgoing_headers(
    trace_id: str,
    span_id: str,
    w3c_trace_id: str,
    tracestate: Tuple[str, ...],
    *,
    suppressed: bool = False,
) -> Dict[str, str]:
    """Headers that carry the context of exit span ``span_id`` to the next service."""
    if suppressed:
        # The caller asked for no tracing: say so downstream, with an unsampled traceparent
        # so W3C-only tracers follow suit.
        headers = {"X-INSTANA-L": "0", TRACEPARENT: f"00-{w3c_trace_id}-{new_id()}-00"}
        if tracestate:
            headers[TRACESTATE] = ",".join(tracestate)
        return headers
    members = (f"in={trace_id};{span_id}", *tracestate[: MAX_TRACESTATE_MEMBERS - 1])
    return {
        "X-INSTANA-T": trace_id,
        "X-INSTANA-S": span_id,
        "X-INSTANA-L": "1",
        TRACEPARENT: f"00-{w3c_trace_id}-{span_id}-01",
        TRACESTATE: ",".join(members),
    }
