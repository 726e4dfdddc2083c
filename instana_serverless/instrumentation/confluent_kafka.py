"""``kafka`` exits for confluent-kafka's ``Producer.produce`` and ``kafka`` entries for the
records its ``Consumer.poll`` / ``consume`` hand out (``_kafka.py`` says what each does).

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
from ._patches import Custom
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


def start(call: Call) -> StartResult:
    return _kafka.send_start(_kafka.argument(call, _TOPIC, "topic"), call.recording)


def inject(call: Call) -> None:
    headers = _kafka.headers_for(call, _kafka.argument(call, _HEADERS, "headers"))
    if headers is not None:
        _kafka.replace_argument(call, _HEADERS, "headers", headers)


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


def _consumer(entry: Entry, original: Any) -> Any:
    poll: Callable[..., Any] = original.poll
    consume: Callable[..., Any] = original.consume
    close: Callable[..., Any] = original.close

    class Consumer(original):  # type: ignore[misc]
        def poll(self, *args: Any, **kwargs: Any) -> Any:
            _kafka.before_call(entry)
            message = poll(self, *args, **kwargs)
            if message is not None:
                try:
                    if message.error() is None:
                        _kafka.received_one(entry, message.topic(), message.headers())
                except Exception:
                    tracer_bug("reading a confluent_kafka message")
            return message

        def consume(self, *args: Any, **kwargs: Any) -> Any:
            _kafka.before_call(entry)
            messages = consume(self, *args, **kwargs)
            try:
                _kafka.received_batch(entry, _batch(messages))
            except Exception:
                tracer_bug("reading confluent_kafka messages")
            return messages

        def close(self, *args: Any, **kwargs: Any) -> Any:
            _kafka.before_call(entry)
            return close(self, *args, **kwargs)

    return _named_like(Consumer, original)


PATCHES = {
    "confluent_kafka": (Custom("", "Producer", _producer), Custom("", "Consumer", _consumer)),
}
