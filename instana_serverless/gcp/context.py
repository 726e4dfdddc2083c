"""Trace context from Google's ``X-Cloud-Trace-Context`` header (docs/CONTRACT.md §5).

Format: ``TRACE_ID/SPAN_ID;o=OPTIONS``, a 32-hex trace id and a *decimal* 64-bit span id.
It is turned into the equivalent ``traceparent`` and passed to ``extract`` after the real
headers, so Instana headers and a real ``traceparent`` always win, and the W3C correlation
setting applies to it exactly as to ``traceparent``. Google's sampling option never
suppresses Instana tracing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

HEADER = "x-cloud-trace-context"
_HEX = frozenset("0123456789abcdef")
_MAX_LENGTH = 128


def cloud_trace_as_traceparent(value: Any) -> Optional[Dict[str, str]]:
    """``{"traceparent": ...}`` for a valid header value, else None. Never raises."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if not isinstance(value, str) or len(value) > _MAX_LENGTH:
        return None
    ids, _, options = value.strip().partition(";")
    trace_id, _, span_text = ids.partition("/")
    trace_id = trace_id.lower()
    if len(trace_id) != 32 or not set(trace_id) <= _HEX or trace_id == "0" * 32:
        return None
    if not span_text.isdigit() or not span_text.isascii() or len(span_text) > 20:
        return None
    span_id = int(span_text)
    if span_id == 0 or span_id >= 2**64:
        return None
    sampled = "01" if options.strip() == "o=1" else "00"
    return {"traceparent": f"00-{trace_id}-{span_id:016x}-{sampled}"}
