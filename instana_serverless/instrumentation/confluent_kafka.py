"""``kafka`` exits for confluent-kafka's ``Producer.produce`` and ``kafka`` entries for the
records its ``Consumer.poll`` / ``consume`` hand out (``_kafka.py`` says what each does); the
same for its Python ``SerializingProducer`` / ``DeserializingConsumer``, which call the C types'
methods directly.

confluent-kafka's ``Producer`` and ``Consumer`` are types of its C extension, whose methods
cannot be replaced: the module's ``Producer`` / ``Consumer`` become subclasses of them with
traced methods (as the official Python sensor does), so clients made from
``confluent_kafka.Producer`` after the import are traced. ``produce`` only queues the record
(delivery is reported later to ``on_delivery``): the span covers the call, as in the Instana
sensors.
"""

from __future__ import annotations

from . import _kafka
from ._common import tracer_bug
from ._patches import Custom, Method
from ._wrap import wrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Tuple

    from ._wrap import Call, StartResult
    from .registry import Entry

# produce(topic, value, key, partition, callback, on_delivery, timestamp, headers) as the C
# extension parses them (``callback`` and ``on_delivery`` are aliases), self first
_TOPIC = 1
_HEADERS = 8
# SerializingProducer.produce(topic, key, value, partition, on_delivery, timestamp, headers)
_SERIALIZING_HEADERS = 7


def start(call: Call) -> StartResult:
    return _kafka.start_send(call, _TOPIC)


def inject(call: Call) -> None:
    _kafka.inject_headers(call, _HEADERS)


def inject_serializing(call: Call) -> None:
    _kafka.inject_headers(call, _SERIALIZING_HEADERS)


def _named_like(cls: Any, original: Any) -> Any:
    cls.__name__ = original.__name__
    cls.__qualname__ = original.__qualname__
    cls.__module__ = original.__module__
    return cls


def _producer(entry: Entry, original: Any) -> Any:
    class Producer(original):  # type: ignore[misc]
        # start/inject read per call (the module's, as tests break them)
        produce = wrap(entry, original.produce, lambda c: start(c), None, lambda c: inject(c))

    return _named_like(Producer, original)


def _batch(messages: Any) -> List[Tuple[Any, Any]]:
    return [(m.topic(), m.headers()) for m in messages if m.error() is None]


def _poll(entry: Entry, poll: Callable[..., Any]) -> Any:
    def traced_poll(self: Any, *args: Any, **kwargs: Any) -> Any:
        _kafka.before_call(entry)
        message = poll(self, *args, **kwargs)
        if message is not None:
            try:
                if message.error() is None:
                    _kafka.received_one(entry, message.topic(), message.headers())
            except Exception:
                tracer_bug("reading a confluent_kafka message")
        return message

    traced_poll.__name__ = "poll"
    return traced_poll


def _close(entry: Entry, close: Callable[..., Any]) -> Any:
    def traced_close(self: Any, *args: Any, **kwargs: Any) -> Any:
        _kafka.before_call(entry)
        return close(self, *args, **kwargs)

    traced_close.__name__ = "close"
    return traced_close


def _consumer(entry: Entry, original: Any) -> Any:
    consume: Callable[..., Any] = original.consume

    class Consumer(original):  # type: ignore[misc]
        poll = _poll(entry, original.poll)
        close = _close(entry, original.close)

        def consume(self, *args: Any, **kwargs: Any) -> Any:
            _kafka.before_call(entry)
            messages = consume(self, *args, **kwargs)
            try:
                _kafka.received_batch(entry, _batch(messages))
            except Exception:
                tracer_bug("reading confluent_kafka messages")
            return messages

    return _named_like(Consumer, original)


PATCHES = {
    "confluent_kafka": (Custom("", "Producer", _producer), Custom("", "Consumer", _consumer)),
    "confluent_kafka.serializing_producer": (
        Method("SerializingProducer", "produce", start, inject=inject_serializing),
    ),
    "confluent_kafka.deserializing_consumer": (
        Custom("DeserializingConsumer", "poll", _poll),
        Custom("DeserializingConsumer", "close", _close),
    ),
}
