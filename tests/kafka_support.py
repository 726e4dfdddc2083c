"""Kafka helpers the scenarios and the Kafka tests share: single-partition topics on the Tansu
broker and reading back what a producer wrote, with confluent-kafka's own C consumer
(``confluent_kafka.cimpl.Consumer``, never patched), so that reading makes no span."""

from __future__ import annotations

import itertools
import time
from typing import Any, Dict, List, Optional, Set, Tuple

from confluent_kafka import TopicPartition, cimpl

from instana_serverless.kafka_context import decode
from tests.servers import Kafka

_created: Set[Tuple[int, str]] = set()
_serial = itertools.count()


def topic(server: Kafka, name: str) -> str:
    """``name`` as a single-partition topic of ``server`` (created once)."""
    if (server.port, name) not in _created:
        server.create_topic(name)
        _created.add((server.port, name))
    return name


def fresh_topic(server: Kafka, prefix: str) -> str:
    return topic(server, f"{prefix}-{next(_serial)}-{int(time.time() * 1000)}")


def records(server: Kafka, name: str, start: int = 0, timeout: float = 10.0) -> List[Any]:
    """Every record of ``name`` from offset ``start``, read without tracing."""
    consumer = cimpl.Consumer(
        {"bootstrap.servers": server.bootstrap, "group.id": "reader", "enable.auto.commit": False}
    )
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(name, 0), timeout=timeout)
        if high <= start:
            return []
        consumer.assign([TopicPartition(name, 0, start)])
        found: List[Any] = []
        deadline = time.monotonic() + timeout
        while len(found) < high - start and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                found.append(message)
        return found
    finally:
        consumer.close()


def last_headers(server: Kafka, name: str) -> List[Tuple[str, bytes]]:
    consumer = cimpl.Consumer(
        {"bootstrap.servers": server.bootstrap, "group.id": "reader", "enable.auto.commit": False}
    )
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(name, 0), timeout=10)
    finally:
        consumer.close()
    if high == 0:
        return []
    (message,) = records(server, name, high - 1)
    return list(message.headers() or [])


def last_context(server: Kafka, name: str) -> Dict[str, str]:
    """The trace context the last record of ``name`` carries (lower-case HTTP names)."""
    return decode(last_headers(server, name)) or {}


def context_of(headers: Optional[List[Tuple[str, bytes]]]) -> Dict[str, str]:
    return decode(headers) or {}
