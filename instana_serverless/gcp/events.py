"""Entry spans for event-triggered functions: CloudEvents and legacy background events.

- Pub/Sub (``google.cloud.pubsub.topic.v1.messagePublished``; legacy
  ``google.pubsub.topic.publish``): ``n = "gcps"``, ``data.gcps = {op: "consume", projid, top,
  sub}``; context from the message attributes (where Instana publishers put ``x-instana-t``…).
- Cloud Storage (``google.cloud.storage.object.v1.<event>``; legacy
  ``google.storage.object.<event>``): ``n = "gcs"``, ``data.gcs = {op: <event>, bucket,
  object}``, e.g. ``op = "finalized"``.
- Any other event: a generic SDK entry, ``data.sdk = {name: <type>, type: "entry",
  custom: {tags: {source, subject, id}}}``.

CloudEvent extension attributes (``traceparent``/``tracestate`` of the distributed tracing
extension) are context sources too. Malformed events give a span with less data, never an
error.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple

PUBSUB = "gcps"
STORAGE = "gcs"
SDK = "sdk"

_PUBSUB_TYPES = ("google.cloud.pubsub.topic.", "google.pubsub.topic.")
_STORAGE_PREFIXES = ("google.cloud.storage.object.v1.", "google.storage.object.")
_MAX_TEXT = 200

if TYPE_CHECKING:
    # (span name, span data, error path, context sources)
    Described = Tuple[str, Dict[str, Any], Tuple[str, ...], List[Mapping[str, Any]]]


def _text(value: Any) -> Optional[str]:
    if isinstance(value, str) and value:
        return value[:_MAX_TEXT]
    return None


def _after(text: Optional[str], marker: str) -> Optional[str]:
    """``//pubsub.googleapis.com/projects/p/topics/t`` after ``topics/`` -> ``t``."""
    if not text or marker not in text:
        return None
    return _text(text.split(marker, 1)[1].split("/", 1)[0])


def _put(target: Dict[str, Any], key: str, value: Optional[str]) -> None:
    if value is not None:
        target[key] = value


def cloud_event_parts(event: Any) -> Tuple[Mapping[str, Any], Any]:
    """(attributes, data) of a ``cloudevents`` event (or a plain mapping shaped like one)."""
    attributes: Any = None
    getter = getattr(event, "get_attributes", None)
    if callable(getter):
        attributes = getter()
    elif isinstance(event, dict):
        attributes = {k: v for k, v in event.items() if k != "data"}
    if not hasattr(attributes, "get"):
        attributes = {}
    data_getter = getattr(event, "get_data", None)
    if callable(data_getter):
        data = data_getter()
    elif isinstance(event, dict):
        data = event.get("data")
    else:
        data = getattr(event, "data", None)
    return attributes, data


def _pubsub(
    source: Optional[str], message: Any, subscription: Any
) -> Tuple[Dict[str, Any], List[Mapping[str, Any]]]:
    details: Dict[str, Any] = {"op": "consume"}
    _put(details, "projid", _after(source, "projects/"))
    _put(details, "top", _after(source, "topics/"))
    sub = _text(subscription)
    if sub is not None:
        _put(details, "sub", _after(sub, "subscriptions/") or sub)
        if "projid" not in details:
            _put(details, "projid", _after(sub, "projects/"))
    sources: List[Mapping[str, Any]] = []
    if isinstance(message, dict):
        attributes = message.get("attributes")
        if isinstance(attributes, dict):
            sources.append(attributes)
    return {PUBSUB: details}, sources


def describe_cloud_event(event: Any) -> Described:
    attributes, data = cloud_event_parts(event)
    event_type = _text(attributes.get("type")) or ""
    source = _text(attributes.get("source"))
    sources: List[Mapping[str, Any]] = []
    if event_type.startswith(_PUBSUB_TYPES):
        body = data if isinstance(data, dict) else {}
        span_data, sources = _pubsub(source, body.get("message"), body.get("subscription"))
        sources.append(attributes)
        return PUBSUB, span_data, (PUBSUB,), sources
    for prefix in _STORAGE_PREFIXES:
        if event_type.startswith(prefix):
            body = data if isinstance(data, dict) else {}
            details: Dict[str, Any] = {"op": event_type[len(prefix) :][:_MAX_TEXT]}
            _put(details, "bucket", _text(body.get("bucket")) or _after(source, "buckets/"))
            subject = _text(attributes.get("subject"))
            name = _text(body.get("name"))
            if name is None and subject and subject.startswith("objects/"):
                name = subject[len("objects/") :]
            _put(details, "object", name)
            return STORAGE, {STORAGE: details}, (STORAGE,), [attributes]
    tags: Dict[str, Any] = {}
    for key in ("source", "subject", "id"):
        _put(tags, key, _text(attributes.get(key)))
    sdk = {"name": event_type or "cloudevent", "type": "entry", "custom": {"tags": tags}}
    return SDK, {SDK: sdk}, (SDK, "custom", "tags"), [attributes]


def describe_background_event(data: Any, context: Any) -> Described:
    """Legacy ``(data, context)`` functions; ``context`` has ``event_type`` and ``resource``."""
    event_type = _text(getattr(context, "event_type", None)) or ""
    resource = getattr(context, "resource", None)
    if isinstance(resource, dict):
        resource = resource.get("name")
    resource_text = _text(resource)
    body = data if isinstance(data, dict) else {}
    if event_type.startswith(_PUBSUB_TYPES):
        span_data, sources = _pubsub(resource_text, body, None)
        return PUBSUB, span_data, (PUBSUB,), sources
    for prefix in _STORAGE_PREFIXES:
        if event_type.startswith(prefix):
            details: Dict[str, Any] = {"op": event_type[len(prefix) :][:_MAX_TEXT]}
            _put(details, "bucket", _text(body.get("bucket")) or _after(resource_text, "buckets/"))
            _put(details, "object", _text(body.get("name")) or _after(resource_text, "objects/"))
            return STORAGE, {STORAGE: details}, (STORAGE,), []
    tags: Dict[str, Any] = {}
    _put(tags, "resource", resource_text)
    _put(tags, "id", _text(getattr(context, "event_id", None)))
    sdk = {"name": event_type or "event", "type": "entry", "custom": {"tags": tags}}
    return SDK, {SDK: sdk}, (SDK, "custom", "tags"), []
