"""What the three Kafka client modules (confluent_kafka, kafka_python, aiokafka) share.

Producing: a ``kafka`` exit ``data.kafka.{service: <topic>, access: "send", error}``; the record
gets the trace context in its headers (``kafka_context``: the configured format), the user's own
headers kept and only earlier context headers replaced. A suppressed trace sends level 0 alone;
``INSTANA_KAFKA_TRACE_CORRELATION=false`` sends nothing.

Consuming: one ``kafka`` entry ``data.kafka.{service: <topic>, access: "consume"}`` per record
handed to the user's code, continuing the context its headers carry (either format), opened
with ``_entry.open_entry``:

- a call that returns one record (confluent ``poll``, iteration, aiokafka ``getone``) leaves
  its entry active while the user's code handles the record, until the consumer's next call or
  its close, as the official Python sensor does: the exits made for the record are its
  children;
- a call that returns a batch (confluent ``consume``, kafka-python ``poll``, aiokafka
  ``getmany``) opens one entry per record, as the official Python sensor does, each continuing
  its own producer's trace; they also last until the consumer's next call, but none of them
  becomes the active span: which record the code works on at a time is unknown, so its exits
  are not attributed to any (the official sensor leaves the last record's entry active, which
  makes every exit of the batch a child of that one record).

A failed consumer call (no record) opens no entry; the library's exception passes unchanged.
"""

from __future__ import annotations

from ..kafka_context import decode, encode, is_context_header
from ._common import config, tracer_bug
from ._entry import enabled, hold, open_entry, release_held

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from ..invocation import Invocation
    from ._wrap import Call, StartResult
    from .registry import Entry

SPAN = "kafka"
ERROR_PATH = ("kafka",)
_MAX_TOPIC = 200


def _topic(topic: Any) -> str:
    return topic[:_MAX_TOPIC] if isinstance(topic, str) else ""


def send_start(topic: Any, recording: bool) -> StartResult:
    if not recording:
        return SPAN, None, ERROR_PATH
    return SPAN, {SPAN: {"service": _topic(topic), "access": "send"}}, ERROR_PATH


def headers_for(call: Call, existing: Any) -> Optional[List[Tuple[str, Any]]]:
    """``existing`` record headers (a list of pairs or a mapping, or None) with our context
    added and earlier context headers dropped; None when correlation is off."""
    config = call.config
    if not config.kafka_trace_correlation:
        return None
    span = call.span
    trace = span.trace
    ours = encode(
        trace.trace_id,
        span.span_id,
        recording=span.recording,
        header_format=config.kafka_header_format,
        long_trace_id=trace.long_trace_id,
    )
    if not existing:
        return ours
    pairs = existing.items() if isinstance(existing, dict) else existing
    kept: List[Tuple[str, Any]] = [
        (name, value) for name, value in pairs if not is_context_header(name)
    ]
    kept.extend(ours)
    # a tuple stays a tuple: a client that refuses one (kafka-python) refuses it as without us
    return tuple(kept) if isinstance(existing, tuple) else kept  # type: ignore[return-value]


def replace_argument(call: Call, index: int, name: str, value: Any) -> None:
    """Pass ``value`` as the argument at positional ``index`` (the instance counted) or as
    keyword ``name``, without touching the caller's objects."""
    if len(call.args) > index:
        args = list(call.args)
        args[index] = value
        call.args = tuple(args)
    else:
        kwargs = dict(call.kwargs)
        kwargs[name] = value
        call.kwargs = kwargs


def argument(call: Call, index: int, name: str) -> Any:
    args = call.args
    return args[index] if len(args) > index else call.kwargs.get(name)


def start_send(call: Call, topic_at: int) -> StartResult:
    """The start of a send whose topic is argument ``topic_at`` (the instance counted) or
    keyword ``topic``."""
    return send_start(argument(call, topic_at, "topic"), call.recording)


def inject_headers(call: Call, headers_at: int) -> None:
    """Our context into the send's headers: argument ``headers_at`` or keyword ``headers``."""
    headers = headers_for(call, argument(call, headers_at, "headers"))
    if headers is not None:
        replace_argument(call, headers_at, "headers", headers)


def records_of(batches: Any) -> List[Tuple[Any, Any]]:
    """``(topic, headers)`` of every record of a ``{partition: [records]}`` batch (what
    kafka-python's ``poll`` and aiokafka's ``getmany`` return)."""
    return [(r.topic, r.headers) for records in batches.values() for r in records]


def _carrier(headers: Any) -> Optional[Dict[str, str]]:
    return decode(headers) if config().kafka_trace_correlation else None


def _open(topic: Any, headers: Any) -> Invocation:
    return open_entry(
        SPAN,
        _carrier(headers),
        data={SPAN: {"service": _topic(topic), "access": "consume"}},
        error_path=ERROR_PATH,
    )


def before_call(entry: Entry) -> None:
    """The consumer is called again: the records it handed out before are handled."""
    try:
        release_held()
    except Exception:
        tracer_bug(f"ending {entry.name} consumer entries")


def received_one(entry: Entry, topic: Any, headers: Any) -> None:
    """One record handed to the user's code: its entry, active until the next call."""
    try:
        if enabled(entry):
            hold([_open(topic, headers)], active=True)
    except Exception:
        tracer_bug(f"opening a {entry.name} consumer entry")


def received_batch(entry: Entry, records: List[Tuple[Any, Any]]) -> None:
    """``(topic, headers)`` of each record of a batch: one entry each, none active."""
    try:
        if records and enabled(entry):
            hold([_open(topic, headers) for topic, headers in records], active=False)
    except Exception:
        tracer_bug(f"opening {entry.name} consumer entries")
