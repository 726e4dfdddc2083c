"""What invoked the function: trigger detection and the summary each trigger puts in the span.

One summarizer per trigger, found through an ordered table of cheap predicates (dict lookups on
the event's top level). Every summarizer fills ``data`` and returns the header-like maps that may
carry an incoming trace context, most specific first. Events are untrusted input: anything of an
unexpected shape is skipped, never raised on.
"""

from __future__ import annotations

import json

from ..config import Config
from ..http_data import http_entry_data
from ..kafka_context import decode as kafka_context

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

    Sources = List[Mapping[str, Any]]
    Summarizer = Callable[[Dict[str, Any], Dict[str, Any], Config], Sources]

API_GATEWAY = "aws:api.gateway"
API_GATEWAY_NOPROXY = "aws:api.gateway.noproxy"
ALB = "aws:application.load.balancer"
FUNCTION_URL = "aws:lambda.function.url"
CLOUDWATCH_EVENTS = "aws:cloudwatch.events"
CLOUDWATCH_LOGS = "aws:cloudwatch.logs"
EVENTBRIDGE = "aws:eventbridge"
S3 = "aws:s3"
SQS = "aws:sqs"
SNS = "aws:sns"
DYNAMODB = "aws:dynamodb"
KINESIS = "aws:kinesis"
INVOKE = "aws:lambda.invoke"
# Event sources the Instana backend has no trigger name for: ``aws:lambda.invoke``, with the
# source in the summary (``data.lambda.<section>.source``).
KAFKA_SOURCES = ("aws:kafka", "SelfManagedKafka")
RABBITMQ_SOURCE = "aws:rmq"
ACTIVEMQ_SOURCE = "aws:mq"
APPSYNC_SOURCE = "aws:appsync"

MAX_ITEMS = 3
# Records of a batch searched for trace context (SQS, SNS, Kafka, Amazon MQ).
MAX_CONTEXT_SCAN = 100
MAX_TEXT = 200
# A CloudWatch Logs batch is at most 1 MB compressed; more than this decompressed is not a
# real batch, and decoding it must not cost the function its memory.
MAX_LOGS_BYTES = 8 * 1024 * 1024


_NO_SOURCES: Sources = []
# Names of message attributes that carry trace context, as headers ``extract`` understands.
_CONTEXT_ATTRIBUTES = {
    "x_instana_t": "x-instana-t",
    "x_instana_s": "x-instana-s",
    "x_instana_l": "x-instana-l",
    "x-instana-t": "x-instana-t",
    "x-instana-s": "x-instana-s",
    "x-instana-l": "x-instana-l",
    "x_instana_synthetic": "x-instana-synthetic",
    "traceparent": "traceparent",
    "tracestate": "tracestate",
}


class Trigger:
    """A trigger kind: its ``data.lambda.trigger`` name and how to summarize its events."""

    __slots__ = ("default_status", "http", "name", "summarize")

    def __init__(
        self,
        name: str,
        summarize: Optional[Summarizer] = None,
        *,
        http: bool = False,
        default_status: Optional[int] = None,
    ) -> None:
        self.name = name
        self.summarize = summarize
        # HTTP triggers take the response status from the result and get Server-Timing.
        self.http = http
        # HTTP API v2 and function URLs answer 200 when the result has no statusCode.
        self.default_status = default_status

    def __repr__(self) -> str:
        return f"<Trigger {self.name}>"


# -- small, defensive readers -------------------------------------------------------------------


def _dict(value: Any) -> Optional[Dict[str, Any]]:
    return value if isinstance(value, dict) else None


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def text(value: Any, limit: int = MAX_TEXT) -> Optional[str]:
    """A string of at most ``limit`` characters (cut ones end in an ellipsis); None otherwise."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def _compact(values: Dict[str, Any]) -> Dict[str, Any]:
    """Without the keys whose value is None: the wire format has no nulls."""
    return {key: value for key, value in values.items() if value is not None}


def _first_items(items: List[Any], read: Callable[[Dict[str, Any]], Dict[str, Any]]) -> List[Any]:
    return [read(item) if isinstance(item, dict) else {} for item in items[:MAX_ITEMS]]


def _records(event: Dict[str, Any]) -> List[Any]:
    records = event.get("Records")
    return records if isinstance(records, list) else []


def _summary_list(
    event: Dict[str, Any], data: Dict[str, Any], section: str, key: str, read: Callable[..., Any]
) -> None:
    records = _records(event)
    data["lambda"][section] = {
        key: _first_items(records, read),
        "more": len(records) > MAX_ITEMS,
    }


def attributes_as_headers(attributes: Any) -> Optional[Dict[str, Any]]:
    """SQS/SNS message attributes that carry trace context, keyed as the HTTP headers.

    SQS events spell the value ``stringValue``, SNS ``Value``; the senders of the public sensors
    name them ``X_INSTANA_T`` etc. because SQS attribute names cannot always hold dashes.
    """
    if not isinstance(attributes, dict) or not attributes:
        return None
    found: Dict[str, Any] = {}
    for name, attribute in attributes.items():
        if not isinstance(name, str):
            continue
        header = _CONTEXT_ATTRIBUTES.get(name.lower())
        if header is None:
            continue
        if isinstance(attribute, dict):
            value = (
                attribute.get("stringValue")
                or attribute.get("StringValue")
                or attribute.get("Value")
                or attribute.get("value")
            )
        else:
            value = attribute
        if isinstance(value, str):
            found[header] = value
    return found or None


# -- HTTP triggers ----------------------------------------------------------------------------


def _header_sources(headers: Optional[Dict[str, Any]], multi: Optional[Dict[str, Any]]) -> Sources:
    # API Gateway and ALB fill ``headers`` with the last value of every ``multiValueHeaders``
    # entry, so one map suffices for the context; reading both would double the work.
    if headers:
        return [headers]
    return [multi] if multi else _NO_SOURCES


def _rest_query(event: Dict[str, Any]) -> Any:
    return _dict(event.get("multiValueQueryStringParameters")) or _dict(
        event.get("queryStringParameters")
    )


def _api_gateway_rest(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    headers = _dict(event.get("headers"))
    multi = _dict(event.get("multiValueHeaders"))
    context = _dict(event.get("requestContext")) or {}
    data["http"] = http_entry_data(
        config,
        method=_str(event.get("httpMethod")),
        url=_str(event.get("path")),
        query=_rest_query(event),
        headers=headers or multi,
        host=_str(context.get("domainName")),
        path_tpl=_str(event.get("resource")),
    )
    return _header_sources(headers, multi)


def _http_v2(
    event: Dict[str, Any], data: Dict[str, Any], config: Config, templated: bool
) -> Sources:
    context = _dict(event.get("requestContext")) or {}
    http = _dict(context.get("http")) or {}
    headers = _dict(event.get("headers"))
    path_tpl = None
    if templated:
        # "GET /pets/{id}"; "$default" names no route.
        route = _str(event.get("routeKey"))
        if route is not None and " " in route:
            path_tpl = route.split(" ", 1)[1]
    query = event.get("rawQueryString")
    data["http"] = http_entry_data(
        config,
        method=_str(http.get("method")),
        url=_str(event.get("rawPath")) or _str(http.get("path")),
        query=query if isinstance(query, str) else None,
        headers=headers,
        host=_str(context.get("domainName")),
        path_tpl=path_tpl,
    )
    return [headers] if headers else _NO_SOURCES


def _api_gateway_v2(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    return _http_v2(event, data, config, templated=True)


def _function_url(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    return _http_v2(event, data, config, templated=False)


def _alb(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    headers = _dict(event.get("headers"))
    multi = _dict(event.get("multiValueHeaders"))
    data["http"] = http_entry_data(
        config,
        method=_str(event.get("httpMethod")),
        url=_str(event.get("path")),
        query=_rest_query(event),
        headers=headers or multi,
    )
    return _header_sources(headers, multi)


def _websocket(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    context = _dict(event.get("requestContext")) or {}
    headers = _dict(event.get("headers"))
    multi = _dict(event.get("multiValueHeaders"))
    route = _str(context.get("routeKey"))
    data["http"] = http_entry_data(
        config,
        method=None,
        url=route,
        query=_rest_query(event),
        headers=headers or multi,
        host=_str(context.get("domainName")),
        path_tpl=route,
    )
    return _header_sources(headers, multi)


def _noproxy(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    """The "Method Request passthrough" mapping template of a non-proxy integration."""
    context = _dict(event.get("context")) or {}
    params = _dict(event.get("params")) or {}
    headers = _dict(params.get("header"))
    template = _str(context.get("resource-path"))
    url = template
    path_values = _dict(params.get("path"))
    if url is not None and path_values:
        for name, value in path_values.items():
            if isinstance(name, str) and isinstance(value, str):
                url = url.replace("{" + name + "}", value).replace("{" + name + "+}", value)
    data["http"] = http_entry_data(
        config,
        method=_str(context.get("http-method")),
        url=url,
        query=_dict(params.get("querystring")),
        headers=headers,
        path_tpl=template,
    )
    return [headers] if headers else _NO_SOURCES


# -- messaging and data triggers --------------------------------------------------------------


def _sns_in_sqs_body(body: Any) -> Optional[Dict[str, Any]]:
    """Context an SNS publisher attached, inside an SQS message an SNS subscription delivered.

    Only bodies that look like an SNS notification with context attributes are parsed.
    """
    if not isinstance(body, str) or not body.startswith("{") or "Notification" not in body:
        return None
    if "INSTANA" not in body.upper() and "traceparent" not in body:
        return None
    try:
        notification = json.loads(body)
    except ValueError:
        return None
    if not isinstance(notification, dict):
        return None
    return attributes_as_headers(notification.get("MessageAttributes"))


def _carrying(found: Optional[Dict[str, Any]]) -> bool:
    """Whether headers found in a record carry context (an Instana id or level, or W3C)."""
    if not found:
        return False
    return any(key in found for key in ("x-instana-t", "x-instana-s", "x-instana-l", "traceparent"))


def _first_carrying(records: Any, read: Callable[[Any], Optional[Dict[str, Any]]]) -> Sources:
    """The context of the first record that carries one: in a batch the first messages may
    come from untraced senders and a later one from a traced one. Only the first
    ``MAX_CONTEXT_SCAN`` are read: a batch of thousands without context costs no more."""
    for record in records[:MAX_CONTEXT_SCAN]:
        found = read(record) if isinstance(record, dict) else None
        if found and _carrying(found):
            return [found]
    return _NO_SOURCES


def _sqs_context(record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    return attributes_as_headers(record.get("messageAttributes")) or _sns_in_sqs_body(
        record.get("body")
    )


def _sqs(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    _summary_list(
        event, data, "sqs", "messages", lambda r: _compact({"queue": text(r.get("eventSourceARN"))})
    )
    return _first_carrying(_records(event), _sqs_context)


def _sns_message(record: Dict[str, Any]) -> Dict[str, Any]:
    sns = _dict(record.get("Sns")) or {}
    return _compact(
        {
            "topic": text(sns.get("TopicArn")),
            "subject": text(sns.get("Subject")),
            "messageId": text(sns.get("MessageId")),
        }
    )


def _sns_context(record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    sns = _dict(record.get("Sns"))
    return attributes_as_headers(sns.get("MessageAttributes")) if sns else None


def _sns(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    _summary_list(event, data, "sns", "messages", _sns_message)
    return _first_carrying(_records(event), _sns_context)


def _kafka_records(event: Dict[str, Any]) -> List[Any]:
    """The records of an MSK / self-managed Kafka event, in the event's order (they arrive
    grouped by ``topic-partition``)."""
    groups = _dict(event.get("records")) or {}
    found: List[Any] = []
    for group in groups.values():
        if isinstance(group, list):
            found.extend(group)
    return found


def _kafka(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    records = _kafka_records(event)
    data["lambda"]["kafka"] = {
        "source": event.get("eventSource"),
        "records": _first_items(
            records,
            lambda r: _compact(
                {
                    "topic": text(r.get("topic")),
                    "partition": r.get("partition") if _is_int(r.get("partition")) else None,
                    "offset": r.get("offset") if _is_int(r.get("offset")) else None,
                }
            ),
        ),
        "count": len(records),
        "more": len(records) > MAX_ITEMS,
    }
    if not config.kafka_trace_correlation:
        return _NO_SOURCES
    # record headers: arrays of byte values, in the string or the legacy binary format
    return _first_carrying(records, lambda r: kafka_context(r.get("headers")))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mq_value(value: Any) -> Optional[str]:
    """An Amazon MQ header or property value as text: RabbitMQ long strings arrive as
    ``{"bytes": [...]}``, ActiveMQ properties as strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("bytes"), list):
        raw = value["bytes"]
        if len(raw) <= 1024:
            try:
                return bytes(raw).decode("utf-8")
            except (TypeError, ValueError):
                return None
    return None


def _mq_context(values: Any) -> Optional[Dict[str, Any]]:
    """Context headers among a message's headers (RabbitMQ) or properties (ActiveMQ), whose
    names may be spelled with dashes or, as JMS requires, underscores."""
    if not isinstance(values, dict):
        return None
    found: Dict[str, Any] = {}
    for name, value in values.items():
        header = _CONTEXT_ATTRIBUTES.get(name.lower()) if isinstance(name, str) else None
        if header is not None:
            text_value = _mq_value(value)
            if text_value is not None:
                found[header] = text_value
    return found or None


def _rabbitmq(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    by_queue = _dict(event.get("rmqMessagesByQueue")) or {}
    messages: List[Any] = []
    queues: List[Any] = []
    for key, group in by_queue.items():
        if isinstance(group, list):
            queue = key.partition("::")[0] if isinstance(key, str) else None
            messages.extend(group)
            queues.extend([queue] * len(group))
    data["lambda"]["mq"] = {
        "source": RABBITMQ_SOURCE,
        "messages": [_compact({"queue": text(q)}) for q in queues[:MAX_ITEMS]],
        "count": len(messages),
        "more": len(messages) > MAX_ITEMS,
    }
    return _first_carrying(
        messages, lambda m: _mq_context((_dict(m.get("basicProperties")) or {}).get("headers"))
    )


def _activemq(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    messages = event.get("messages")
    messages = messages if isinstance(messages, list) else []
    data["lambda"]["mq"] = {
        "source": ACTIVEMQ_SOURCE,
        "messages": _first_items(
            messages,
            lambda m: _compact(
                {"queue": text((_dict(m.get("destination")) or {}).get("physicalName"))}
            ),
        ),
        "count": len(messages),
        "more": len(messages) > MAX_ITEMS,
    }
    return _first_carrying(messages, lambda m: _mq_context(m.get("properties")))


def _appsync(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    info = _dict(event.get("info")) or {}
    data["lambda"]["appsync"] = _compact(
        {
            "source": APPSYNC_SOURCE,
            "fieldName": text(info.get("fieldName")),
            "parentTypeName": text(info.get("parentTypeName")),
        }
    )
    headers = _dict((_dict(event.get("request")) or {}).get("headers"))
    return [headers] if headers else _NO_SOURCES


def _s3_event(record: Dict[str, Any]) -> Dict[str, Any]:
    s3 = _dict(record.get("s3")) or {}
    return _compact(
        {
            "event": text(record.get("eventName")),
            "bucket": text((_dict(s3.get("bucket")) or {}).get("name")),
            "object": text((_dict(s3.get("object")) or {}).get("key")),
        }
    )


def _s3(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    _summary_list(event, data, "s3", "events", _s3_event)
    return _NO_SOURCES


def _dynamodb(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    _summary_list(
        event,
        data,
        "dynamodb",
        "events",
        lambda r: _compact(
            {
                "event": text(r.get("eventName")),
                "eventid": text(r.get("eventID")),
                "stream": text(r.get("eventSourceARN")),
            }
        ),
    )
    return _NO_SOURCES


def _kinesis(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    _summary_list(
        event,
        data,
        "kinesis",
        "events",
        lambda r: _compact(
            {
                "event": text(r.get("eventName")),
                "stream": text(r.get("eventSourceARN")),
                "partitionKey": text((_dict(r.get("kinesis")) or {}).get("partitionKey")),
            }
        ),
    )
    return _NO_SOURCES


def _resources(event: Dict[str, Any]) -> Tuple[Optional[List[str]], bool]:
    resources = event.get("resources")
    if not isinstance(resources, list) or not resources:
        return None, False
    shown = [text(item) or "" for item in resources[:MAX_ITEMS]]
    return shown, len(resources) > MAX_ITEMS


def _cloudwatch_events(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    resources, more = _resources(event)
    summary = _compact({"id": text(event.get("id")), "resources": resources})
    summary["more"] = more
    data["lambda"]["cw"] = {"events": summary}
    return _NO_SOURCES


def _eventbridge(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    resources, more = _resources(event)
    summary = _compact(
        {
            "id": text(event.get("id")),
            "source": text(event.get("source")),
            "detailType": text(event.get("detail-type")),
            "resources": resources,
        }
    )
    summary["more"] = more
    data["lambda"]["eventbridge"] = summary
    return _NO_SOURCES


def decode_logs(payload: Any) -> Dict[str, Any]:
    """The decoded ``awslogs.data`` (base64 of gzip of JSON). Raises ValueError on bad input."""
    import binascii
    import zlib

    if not isinstance(payload, str):
        raise ValueError("awslogs.data is not a string")
    try:
        compressed = binascii.a2b_base64(payload)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64: {exc}") from None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(compressed, MAX_LOGS_BYTES)
    except zlib.error as exc:
        raise ValueError(f"invalid gzip: {exc}") from None
    if inflater.unconsumed_tail:
        raise ValueError(f"payload larger than {MAX_LOGS_BYTES} bytes when decompressed")
    try:
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise ValueError("payload is not a JSON object")
    return decoded


def _cloudwatch_logs(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    logs: Dict[str, Any] = {}
    data["lambda"]["cw"] = {"logs": logs}
    try:
        decoded = decode_logs((_dict(event.get("awslogs")) or {}).get("data"))
    except ValueError as exc:
        logs["decodingError"] = text(f"Could not decode the CloudWatch Logs payload: {exc}")
        return _NO_SOURCES
    logs.update(
        _compact({"group": text(decoded.get("logGroup")), "stream": text(decoded.get("logStream"))})
    )
    events = decoded.get("logEvents")
    if isinstance(events, list) and events:
        logs["events"] = [
            text(item.get("message")) or "" if isinstance(item, dict) else ""
            for item in events[:MAX_ITEMS]
        ]
        logs["more"] = len(events) > MAX_ITEMS
    return _NO_SOURCES


# Top-level payload keys a direct invoke may carry the caller's context in (any case), as the
# official sensors read them; W3C keys are not read from a payload.
_PAYLOAD_CONTEXT_KEYS = frozenset(
    ("x-instana-t", "x-instana-s", "x-instana-l", "x-instana-synthetic")
)


def _direct_invoke(event: Dict[str, Any], data: Dict[str, Any], config: Config) -> Sources:
    found = {
        key: value
        for key, value in event.items()
        if isinstance(key, str) and key.lower() in _PAYLOAD_CONTEXT_KEYS
    }
    return [found] if found else _NO_SOURCES


# -- the table --------------------------------------------------------------------------------

REST_TRIGGER = Trigger(API_GATEWAY, _api_gateway_rest, http=True)
HTTP_V2_TRIGGER = Trigger(API_GATEWAY, _api_gateway_v2, http=True, default_status=200)
WEBSOCKET_TRIGGER = Trigger(API_GATEWAY, _websocket, http=True)
NOPROXY_TRIGGER = Trigger(API_GATEWAY_NOPROXY, _noproxy)
ALB_TRIGGER = Trigger(ALB, _alb, http=True)
FUNCTION_URL_TRIGGER = Trigger(FUNCTION_URL, _function_url, http=True, default_status=200)
SQS_TRIGGER = Trigger(SQS, _sqs)
SNS_TRIGGER = Trigger(SNS, _sns)
S3_TRIGGER = Trigger(S3, _s3)
DYNAMODB_TRIGGER = Trigger(DYNAMODB, _dynamodb)
KINESIS_TRIGGER = Trigger(KINESIS, _kinesis)
CLOUDWATCH_EVENTS_TRIGGER = Trigger(CLOUDWATCH_EVENTS, _cloudwatch_events)
EVENTBRIDGE_TRIGGER = Trigger(EVENTBRIDGE, _eventbridge)
CLOUDWATCH_LOGS_TRIGGER = Trigger(CLOUDWATCH_LOGS, _cloudwatch_logs)
INVOKE_TRIGGER = Trigger(INVOKE, _direct_invoke)
KAFKA_TRIGGER = Trigger(INVOKE, _kafka)
RABBITMQ_TRIGGER = Trigger(INVOKE, _rabbitmq)
ACTIVEMQ_TRIGGER = Trigger(INVOKE, _activemq)
APPSYNC_TRIGGER = Trigger(INVOKE, _appsync)

_BY_RECORD_SOURCE = {
    "aws:sqs": SQS_TRIGGER,
    "aws:sns": SNS_TRIGGER,
    "aws:s3": S3_TRIGGER,
    "aws:dynamodb": DYNAMODB_TRIGGER,
    "aws:kinesis": KINESIS_TRIGGER,
}


def _request_context(event: Dict[str, Any]) -> Dict[str, Any]:
    return _dict(event.get("requestContext")) or {}


def _is_alb(event: Dict[str, Any]) -> bool:
    return "elb" in _request_context(event)


def _is_http_v2(event: Dict[str, Any]) -> bool:
    return event.get("version") == "2.0" and "http" in _request_context(event)


def _is_function_url(event: Dict[str, Any]) -> bool:
    domain = _request_context(event).get("domainName")
    return isinstance(domain, str) and ".lambda-url." in domain


def _is_rest(event: Dict[str, Any]) -> bool:
    return "httpMethod" in event and "resource" in event and "path" in event


def _is_websocket(event: Dict[str, Any]) -> bool:
    context = _request_context(event)
    return "connectionId" in context and "eventType" in context


def _record_trigger(event: Dict[str, Any]) -> Optional[Trigger]:
    records = event.get("Records")
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return None
    first = records[0]
    source = first.get("eventSource") or first.get("EventSource")
    return _BY_RECORD_SOURCE.get(source) if isinstance(source, str) else None


def _is_kafka(event: Dict[str, Any]) -> bool:
    return event.get("eventSource") in KAFKA_SOURCES and isinstance(event.get("records"), dict)


def _is_rabbitmq(event: Dict[str, Any]) -> bool:
    return event.get("eventSource") == RABBITMQ_SOURCE and "rmqMessagesByQueue" in event


def _is_activemq(event: Dict[str, Any]) -> bool:
    return event.get("eventSource") == ACTIVEMQ_SOURCE and "messages" in event


def _is_appsync(event: Dict[str, Any]) -> bool:
    """A direct Lambda resolver's event: the GraphQL field in ``info``, the HTTP request."""
    info = event.get("info")
    return (
        isinstance(info, dict)
        and "fieldName" in info
        and "parentTypeName" in info
        and isinstance(event.get("request"), dict)
    )


def _is_logs(event: Dict[str, Any]) -> bool:
    return isinstance(event.get("awslogs"), dict)


def _is_scheduled(event: Dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def _is_eventbridge(event: Dict[str, Any]) -> bool:
    return "detail-type" in event and "source" in event and "detail" in event


def _is_noproxy(event: Dict[str, Any]) -> bool:
    context = event.get("context")
    return isinstance(context, dict) and "http-method" in context and "resource-path" in context


def _when(
    predicate: Callable[[Dict[str, Any]], bool], trigger: Trigger
) -> Callable[[Dict[str, Any]], Optional[Trigger]]:
    return lambda event: trigger if predicate(event) else None


def _http_v2_kind(event: Dict[str, Any]) -> Optional[Trigger]:
    if not _is_http_v2(event):
        return None
    return FUNCTION_URL_TRIGGER if _is_function_url(event) else HTTP_V2_TRIGGER


# Order matters: ALB events also have httpMethod and path (but no resource); HTTP API v2 and
# function URLs share a shape and differ by domain; scheduled events are EventBridge events.
DETECTORS: Tuple[Callable[[Dict[str, Any]], Optional[Trigger]], ...] = (
    _when(_is_alb, ALB_TRIGGER),
    _http_v2_kind,
    _when(_is_rest, REST_TRIGGER),
    _when(_is_websocket, WEBSOCKET_TRIGGER),
    _record_trigger,
    _when(_is_kafka, KAFKA_TRIGGER),
    _when(_is_rabbitmq, RABBITMQ_TRIGGER),
    _when(_is_activemq, ACTIVEMQ_TRIGGER),
    _when(_is_appsync, APPSYNC_TRIGGER),
    _when(_is_logs, CLOUDWATCH_LOGS_TRIGGER),
    _when(_is_scheduled, CLOUDWATCH_EVENTS_TRIGGER),
    _when(_is_eventbridge, EVENTBRIDGE_TRIGGER),
    _when(_is_noproxy, NOPROXY_TRIGGER),
)


def detect(event: Any) -> Trigger:
    """The trigger of ``event``; a direct invocation when nothing else matches."""
    if not isinstance(event, dict):
        return INVOKE_TRIGGER
    for detector in DETECTORS:
        trigger = detector(event)
        if trigger is not None:
            return trigger
    return INVOKE_TRIGGER


def summarize(trigger: Trigger, event: Any, data: Dict[str, Any], config: Config) -> Sources:
    """Fill ``data`` for ``trigger``; the maps that may carry trace context. Never raises."""
    if trigger.summarize is None or not isinstance(event, dict):
        return _NO_SOURCES
    try:
        return trigger.summarize(event, data, config)
    except Exception:  # a shape no summarizer foresaw: the span keeps its trigger name
        return _NO_SOURCES
