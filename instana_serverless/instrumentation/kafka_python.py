"""``kafka`` exits for kafka-python's ``KafkaProducer.send`` and ``kafka`` entries for the
records its ``KafkaConsumer`` hands out by iteration (one at a time) and ``poll`` (a batch);
``_kafka.py`` says what each does. ``send`` only queues the record and returns a future: the
span covers the call, as in the Instana sensors.
"""

from __future__ import annotations

from contextvars import ContextVar

from . import _kafka
from ._common import tracer_bug
from ._patches import Custom, Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from ._wrap import Call, StartResult
    from .registry import Entry

# send(topic, value, key, headers, partition, timestamp_ms), self first
_TOPIC = 1
_HEADERS = 4

# Iteration fetches through ``poll``: inside ``__next__`` that poll hands nothing to the user.
_iterating: ContextVar[bool] = ContextVar("instana_serverless_kafka_python_next", default=False)


def start(call: Call) -> StartResult:
    return _kafka.start_send(call, _TOPIC)


def inject(call: Call) -> None:
    _kafka.inject_headers(call, _HEADERS)


def _next(entry: Entry, original: Callable[..., Any]) -> Any:
    def __next__(self: Any) -> Any:
        _kafka.before_call(entry)
        token = _iterating.set(True)
        try:
            record = original(self)
        finally:
            _iterating.reset(token)
        try:
            _kafka.received_one(entry, record.topic, record.headers)
        except Exception:
            tracer_bug("reading a kafka-python record")
        return record

    return __next__


def _poll(entry: Entry, original: Callable[..., Any]) -> Any:
    def poll(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _iterating.get():
            return original(self, *args, **kwargs)
        _kafka.before_call(entry)
        batches = original(self, *args, **kwargs)
        try:
            _kafka.received_batch(entry, _kafka.records_of(batches))
        except Exception:
            tracer_bug("reading kafka-python records")
        return batches

    return poll


def _close(entry: Entry, original: Callable[..., Any]) -> Any:
    def close(self: Any, *args: Any, **kwargs: Any) -> Any:
        _kafka.before_call(entry)
        return original(self, *args, **kwargs)

    return close


PATCHES = {
    "kafka.producer.kafka": (Method("KafkaProducer", "send", start, inject=inject),),
    "kafka.consumer.group": (
        Custom("KafkaConsumer", "__next__", _next),
        Custom("KafkaConsumer", "poll", _poll),
        Custom("KafkaConsumer", "close", _close),
    ),
}
