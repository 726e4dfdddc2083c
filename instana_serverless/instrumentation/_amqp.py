"""What the RabbitMQ modules (pika.py, aio_pika.py) share: span data, and the trace context in
a message's headers.

Published messages carry ``X-INSTANA-T``, ``X-INSTANA-S`` and ``X-INSTANA-L`` (only
``X-INSTANA-L: 0`` in a suppressed trace) in their AMQP headers, spelled as the Instana Python
and Node.js sensors write them. AMQP header names are case-sensitive, so consumers read them in
any case (with ``traceparent`` / ``tracestate`` from other tracers), and a producer drops
earlier ``X-INSTANA-*`` headers in any case before adding its own; the user's other headers are
kept, in a copy (never the caller's dict).
"""

from __future__ import annotations

from ._common import CONTEXT_HEADERS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional, Tuple

    from ..span import Span

SPAN = "rabbitmq"
ERROR_PATH: Tuple[str, ...] = ("rabbitmq",)
HEADER_T = "X-INSTANA-T"
HEADER_S = "X-INSTANA-S"
HEADER_L = "X-INSTANA-L"
_OURS = frozenset(("x-instana-t", "x-instana-s", "x-instana-l"))
_MAX_TEXT = 256


def text(value: Any) -> Optional[str]:
    """A name (exchange, routing key, queue) as sent: text, bounded; None when absent."""
    if value.__class__ is str:
        return value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif value is not None and not isinstance(value, str):
        value = str(value)
    return value[:_MAX_TEXT] if value is not None else None


def data(
    sort: str,
    address: Optional[str],
    *,
    exchange: Any = None,
    key: Any = None,
    queue: Any = None,
) -> Dict[str, Any]:
    """``{"rabbitmq": {sort, address, exchange, key, queue}}`` with what is known."""
    fields: Dict[str, Any] = {"sort": sort}
    if address:
        fields["address"] = address
    for name, value in (("exchange", exchange), ("key", key), ("queue", queue)):
        value = text(value)
        if value is not None:
            fields[name] = value
    return {"rabbitmq": fields}


def carrier(headers: Any) -> Optional[Dict[str, str]]:
    """The trace headers among a delivered message's headers, names lower-cased, values as
    text (AMQP long strings may arrive as bytes); None when there are none."""
    if not headers or not hasattr(headers, "items"):
        return None
    found: Optional[Dict[str, str]] = None
    for name, value in headers.items():
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        if lowered not in CONTEXT_HEADERS:
            continue
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        elif not isinstance(value, str):
            continue
        if found is None:
            found = {}
        found[lowered] = value
    return found


def with_context(headers: Optional[Mapping[Any, Any]], span: Span) -> Dict[Any, Any]:
    """A copy of ``headers`` (None: none) with the context of ``span`` in place of any
    ``X-INSTANA-*`` headers it had."""
    merged: Dict[Any, Any] = {}
    if headers:
        for name, value in headers.items():
            if not (isinstance(name, str) and name.lower() in _OURS):
                merged[name] = value
    if span.recording:
        merged[HEADER_T] = span.trace_id
        merged[HEADER_S] = span.span_id
        merged[HEADER_L] = "1"
    else:
        merged[HEADER_L] = "0"
    return merged
