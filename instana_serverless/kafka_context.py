"""Trace context in Kafka record headers, in both of Instana's formats (docs/CONTRACT.md §5).

One module for every place that writes or reads them: the confluent-kafka, kafka-python and
aiokafka instrumentations and the Lambda MSK / self-managed Kafka trigger.

- ``string`` (the Instana collectors' current format): ``x_instana_t`` (the trace id, left-padded
  to 32 hex characters as the Go and Node.js collectors write it), ``x_instana_s`` (16 hex),
  ``x_instana_l_s`` (``1``, or ``0`` for a suppressed trace, then alone);
- ``binary`` (the legacy format): ``X_INSTANA_C``, 24 bytes: the trace id right-aligned in the
  first 16 (zero-padded), the span id in the last 8; ``X_INSTANA_L``, one byte, ``0x00``
  suppressed, ``0x01`` traced.

Readers take either, whatever format is configured: the string headers when a record has any of
them, else the binary ones (as the Node.js collector does); names are matched case-insensitively
(the Go and Node.js collectors write them upper-case). Bad values are no context, never an error.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Tuple

STRING = "string"
BINARY = "binary"
BOTH = "both"
FORMATS = (STRING, BINARY, BOTH)

T = "x_instana_t"
S = "x_instana_s"
L_S = "x_instana_l_s"
C = "X_INSTANA_C"
L = "X_INSTANA_L"

_STRING_NAMES = {T: "x-instana-t", S: "x-instana-s", L_S: "x-instana-l"}
_W3C_NAMES = frozenset(("traceparent", "tracestate"))
#: every header name (lower-case) we write; a producer's copies of them are replaced
NAMES = frozenset((T, S, L_S, C.lower(), L.lower()))
_WANTED = NAMES | _W3C_NAMES
# A context header value is at most 32 characters; W3C headers stay below this too.
_MAX_VALUE = 512

_ZERO_8 = bytes(8)


def encode(
    trace_id: str,
    span_id: str,
    *,
    recording: bool,
    header_format: str,
    long_trace_id: Optional[str] = None,
) -> List[Tuple[str, bytes]]:
    """The headers that carry exit span ``span_id`` of ``trace_id`` onward, in ``header_format``
    (a suppressed trace passes on only its level 0)."""
    headers: List[Tuple[str, bytes]] = []
    string = header_format != BINARY
    binary = header_format != STRING
    if not recording:
        if string:
            headers.append((L_S, b"0"))
        if binary:
            headers.append((L, b"\x00"))
        return headers
    trace = (long_trace_id or trace_id).rjust(32, "0")  # a 128-bit id of the trace, or padding
    if string:
        headers.append((T, trace.encode()))
        headers.append((S, span_id.encode()))
        headers.append((L_S, b"1"))
    if binary:
        headers.append((C, bytes.fromhex(trace) + bytes.fromhex(span_id)))
        headers.append((L, b"\x01"))
    return headers


def is_context_header(name: Any) -> bool:
    """True for a header name one of the formats uses (any case, text or bytes)."""
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).decode("latin-1")
    return isinstance(name, str) and name.lower() in NAMES


def _as_bytes(value: Any) -> Optional[bytes]:
    """A header value as bytes: the clients give bytes (or str); Lambda events lists of byte
    values. None for anything else or anything too long to be context."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, str):
        raw = value.encode("utf-8", "replace")
    elif isinstance(value, list) and len(value) <= _MAX_VALUE:
        try:
            raw = bytes(value)
        except (TypeError, ValueError):
            return None
    else:
        return None
    return raw if len(raw) <= _MAX_VALUE else None


def _trace_text(raw: bytes) -> Optional[str]:
    """A string-format trace id; its zero upper half (a 64-bit id padded to 32) dropped, so that
    the padding is not taken for a 128-bit trace id."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    if len(text) == 32 and text[:16].strip("0") == "":
        return text[16:]
    return text


def decode(headers: Any) -> Optional[Dict[str, str]]:
    """The trace context among a record's ``headers`` as the HTTP header names ``extract`` reads
    (``x-instana-t``, ``x-instana-s``, ``x-instana-l``, and W3C ``traceparent`` / ``tracestate``
    when a W3C producer wrote them); None when there is none. Never raises."""
    try:
        return _decode(headers)
    except Exception:  # an exotic header container is no context
        return None


def _decode(headers: Any) -> Optional[Dict[str, str]]:
    if not headers:
        return None
    if isinstance(headers, dict):
        items: Iterable[Any] = headers.items()
    elif isinstance(headers, (list, tuple)):
        items = headers
    else:
        return None
    found: Dict[str, str] = {}
    legacy_c = legacy_l = None
    for item in items:
        # (name, value) pairs; Lambda's Kafka events give one-entry mappings instead
        if isinstance(item, dict):
            pairs: Iterable[Any] = item.items()
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs = (item,)
        else:
            continue
        for name, value in pairs:
            if isinstance(name, (bytes, bytearray)):
                name = bytes(name).decode("latin-1")
            if not isinstance(name, str):
                continue
            lowered = name.lower()
            if lowered not in _WANTED:
                continue
            raw = value if type(value) is bytes and len(value) <= _MAX_VALUE else _as_bytes(value)
            if raw is None:
                continue
            if lowered == "x_instana_c":
                legacy_c = raw
            elif lowered == "x_instana_l":
                legacy_l = raw
            elif lowered == T:
                text = _trace_text(raw)
                if text:
                    found["x-instana-t"] = text
            else:
                try:
                    found[_STRING_NAMES.get(lowered, lowered)] = raw.decode("ascii").strip()
                except UnicodeDecodeError:
                    continue
    # the legacy headers only when no string header is there
    if (legacy_c is not None or legacy_l is not None) and not any(
        key.startswith("x-instana-") for key in found
    ):
        if legacy_l is not None and len(legacy_l) == 1:
            found["x-instana-l"] = "0" if legacy_l == b"\x00" else "1"
        if legacy_c is not None and len(legacy_c) == 24:
            upper, lower = legacy_c[:8], legacy_c[8:16]
            found["x-instana-t"] = (lower if upper == _ZERO_8 else legacy_c[:16]).hex()
            found["x-instana-s"] = legacy_c[16:].hex()
    return found or None


__all__ = ["BINARY", "BOTH", "FORMATS", "NAMES", "STRING", "decode", "encode", "is_context_header"]
