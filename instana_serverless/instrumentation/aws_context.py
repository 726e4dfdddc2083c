"""Trace context inside AWS requests: SQS/SNS message attributes and Lambda ClientContext.

Each function returns new request parameters and never mutates the caller's objects: a user
who reuses a ``MessageAttributes`` dict for several sends must not find our values in it.
When the context does not fit (10 message attributes, 3583 bytes of ClientContext) or the
user's value is not what AWS expects, the request goes out exactly as the user wrote it.
"""

from __future__ import annotations

import base64
import binascii
import json

from ..tracer import context_headers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional

    from ..span import Span

ATTR_T = "X_INSTANA_T"
ATTR_S = "X_INSTANA_S"
ATTR_L = "X_INSTANA_L"
OUR_ATTRIBUTES = (ATTR_T, ATTR_S, ATTR_L)

MAX_MESSAGE_ATTRIBUTES = 10
MAX_CLIENT_CONTEXT_BYTES = 3583

# Header names, lower-case: the receiving function reads ``custom`` as a header map.
_CONTEXT_KEYS = ("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate")
_INSTANA_KEYS = _CONTEXT_KEYS[:3]


def attribute_values(span: Span) -> Dict[str, str]:
    """The attributes that carry ``span``'s context: only ``L=0`` when the trace is suppressed."""
    if not span.recording:
        return {ATTR_L: "0"}
    return {ATTR_T: span.trace_id, ATTR_S: span.span_id, ATTR_L: "1"}


def with_attributes(
    message: Mapping[str, Any], values: Mapping[str, str]
) -> Optional[Dict[str, Any]]:
    """A copy of one message (SendMessage params, a batch entry…) with our attributes added."""
    existing = message.get("MessageAttributes")
    if existing is None:
        existing = {}
    elif type(existing) is not dict:
        return None  # botocore accepts only a dict; its error must be the user's, not ours
    kept = {k: v for k, v in existing.items() if k not in OUR_ATTRIBUTES}
    if len(kept) + len(values) > MAX_MESSAGE_ATTRIBUTES:
        return None
    for name, value in values.items():
        kept[name] = {"DataType": "String", "StringValue": value}
    copied = dict(message)
    copied["MessageAttributes"] = kept
    return copied


def inject_message(params: Mapping[str, Any], values: Mapping[str, str]) -> Dict[str, Any]:
    injected = with_attributes(params, values)
    return injected if injected is not None else dict(params)


def inject_batch(
    params: Mapping[str, Any], entries_key: str, values: Mapping[str, str]
) -> Dict[str, Any]:
    """Every entry of a batch send gets the context, each as far as it has room."""
    entries = params.get(entries_key)
    copied = dict(params)
    if not isinstance(entries, list):
        return copied
    new_entries: List[Any] = []
    for entry in entries:
        injected = with_attributes(entry, values) if type(entry) is dict else None
        new_entries.append(injected if injected is not None else entry)
    copied[entries_key] = new_entries
    return copied


def _encode(document: Mapping[str, Any]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def client_context(existing: Any, span: Span) -> Optional[str]:
    """The ClientContext to send: the user's document with our keys merged into ``custom``.

    None means: leave the user's value alone (not base64 JSON of an object, or no room).
    """
    document: Dict[str, Any]
    if existing is None:
        document = {}
    elif isinstance(existing, str):
        try:
            decoded = json.loads(base64.b64decode(existing, validate=True))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(decoded, dict):
            return None
        document = decoded
    else:
        return None
    custom = document.get("custom")
    if custom is None:
        custom = {}
    elif not isinstance(custom, dict):
        return None
    headers = {k.lower(): v for k, v in context_headers(span).items()}
    kept = {
        k: v for k, v in custom.items() if not (isinstance(k, str) and k.lower() in _CONTEXT_KEYS)
    }
    # Prefer the full context; fall back to the Instana keys alone when the W3C ones do not fit.
    for keys in (_CONTEXT_KEYS, _INSTANA_KEYS):
        merged = dict(kept)
        merged.update((k, headers[k]) for k in keys if k in headers)
        encoded = _encode({**document, "custom": merged})
        if len(encoded) <= MAX_CLIENT_CONTEXT_BYTES:
            return encoded
    return None


def inject_client_context(params: Mapping[str, Any], span: Span) -> Dict[str, Any]:
    copied = dict(params)
    encoded = client_context(params.get("ClientContext"), span)
    if encoded is not None:
        copied["ClientContext"] = encoded
    return copied
