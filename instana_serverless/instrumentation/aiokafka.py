"""``kafka`` exits for aiokafka's ``AIOKafkaProducer.send`` / ``send_and_wait`` and ``kafka``
entries for the records its ``AIOKafkaConsumer`` hands out by ``getone`` (which async iteration
calls) and ``getmany`` (a batch); ``_kafka.py`` says what each does. ``send`` returns once the
record is queued; ``send_and_wait``'s span also covers the broker's acknowledgement (its inner
``send`` is part of it).
"""

from __future__ import annotations

from . import _kafka
from ._common import tracer_bug
from ._patches import Custom, Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from ._wrap import Call, StartResult
    from .registry import Entry

# send(topic, value, key, partition, timestamp_ms, headers), self first; send_and_wait alike
_TOPIC = 1
_HEADERS = 6


def start(call: Call) -> StartResult:
    return _kafka.start_send(call, _TOPIC)


def inject(call: Call) -> None:
    _kafka.inject_headers(call, _HEADERS)


def _getone(entry: Entry, original: Callable[..., Any]) -> Any:
    async def getone(self: Any, *partitions: Any) -> Any:
        _kafka.before_call(entry)
        record = await original(self, *partitions)
        try:
            _kafka.received_one(entry, record.topic, record.headers)
        except Exception:
            tracer_bug("reading an aiokafka record")
        return record

    return getone


def _getmany(entry: Entry, original: Callable[..., Any]) -> Any:
    async def getmany(self: Any, *partitions: Any, **kwargs: Any) -> Any:
        _kafka.before_call(entry)
        batches = await original(self, *partitions, **kwargs)
        try:
            _kafka.received_batch(entry, _kafka.records_of(batches))
        except Exception:
            tracer_bug("reading aiokafka records")
        return batches

    return getmany


def _stop(entry: Entry, original: Callable[..., Any]) -> Any:
    async def stop(self: Any) -> Any:
        _kafka.before_call(entry)
        return await original(self)

    return stop


PATCHES = {
    "aiokafka.producer.producer": (
        Method("AIOKafkaProducer", "send", start, inject=inject),
        Method("AIOKafkaProducer", "send_and_wait", start, inject=inject),
    ),
    "aiokafka.consumer.consumer": (
        Custom("AIOKafkaConsumer", "getone", _getone),
        Custom("AIOKafkaConsumer", "getmany", _getmany),
        Custom("AIOKafkaConsumer", "stop", _stop),
    ),
}
