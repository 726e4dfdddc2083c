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


# --------------------------------------------------------------------------- the three clients
#
# One driver per client with the same four operations, so the tests can run every producer
# against every consumer. Consumers assign themselves partition 0 from the start (no group
# join to wait for) and are made from the module attribute at call time (confluent-kafka's
# traced classes are subclasses put there by the instrumentation).


class Driver:
    name = ""

    def produce(self, server: Kafka, name: str, value: bytes, headers: Any = None) -> None:
        raise NotImplementedError

    def consume_each(self, server: Kafka, name: str, count: int, handle: Any) -> List[Any]:
        """Read ``count`` records one at a time (the client's single-record call), calling
        ``handle(record)`` for each, then close; the records' (topic, value) pairs."""
        raise NotImplementedError

    def consume_batch(self, server: Kafka, name: str, count: int) -> List[Any]:
        """Read ``count`` records with the client's batch call; their (topic, value) pairs."""
        raise NotImplementedError


class Confluent(Driver):
    name = "confluent-kafka"

    def produce(self, server: Kafka, name: str, value: bytes, headers: Any = None) -> None:
        import confluent_kafka

        producer = confluent_kafka.Producer({"bootstrap.servers": server.bootstrap})
        if headers is None:
            producer.produce(name, value)
        else:
            producer.produce(name, value, headers=headers)
        assert producer.flush(10) == 0

    def _consumer(self, server: Kafka, name: str) -> Any:
        import confluent_kafka

        consumer = confluent_kafka.Consumer(
            {
                "bootstrap.servers": server.bootstrap,
                "group.id": "tests",
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition(name, 0, 0)])
        return consumer

    def consume_each(self, server: Kafka, name: str, count: int, handle: Any) -> List[Any]:
        consumer = self._consumer(server, name)
        seen: List[Any] = []
        deadline = time.monotonic() + 15
        try:
            while len(seen) < count and time.monotonic() < deadline:
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    seen.append((message.topic(), message.value()))
                    handle(message)
        finally:
            consumer.close()
        return seen

    def consume_batch(self, server: Kafka, name: str, count: int) -> List[Any]:
        consumer = self._consumer(server, name)
        seen: List[Any] = []
        deadline = time.monotonic() + 15
        try:
            while len(seen) < count and time.monotonic() < deadline:
                for message in consumer.consume(count - len(seen), 0.5):
                    if message.error() is None:
                        seen.append((message.topic(), message.value()))
        finally:
            consumer.close()
        return seen


class KafkaPython(Driver):
    name = "kafka-python"

    def produce(self, server: Kafka, name: str, value: bytes, headers: Any = None) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=server.bootstrap)
        try:
            if headers is None:
                producer.send(name, value).get(10)
            else:
                producer.send(name, value, headers=headers).get(10)
        finally:
            producer.close(timeout=5)

    def _consumer(self, server: Kafka, name: str) -> Any:
        from kafka import KafkaConsumer
        from kafka import TopicPartition as KafkaTopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=server.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=15000,
        )
        consumer.assign([KafkaTopicPartition(name, 0)])
        return consumer

    def consume_each(self, server: Kafka, name: str, count: int, handle: Any) -> List[Any]:
        consumer = self._consumer(server, name)
        seen: List[Any] = []
        try:
            for record in consumer:
                seen.append((record.topic, record.value))
                handle(record)
                if len(seen) == count:
                    break
        finally:
            consumer.close()
        return seen

    def consume_batch(self, server: Kafka, name: str, count: int) -> List[Any]:
        consumer = self._consumer(server, name)
        seen: List[Any] = []
        deadline = time.monotonic() + 15
        try:
            while len(seen) < count and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=500).values():
                    seen.extend((r.topic, r.value) for r in batch)
        finally:
            consumer.close()
        return seen


class AioKafka(Driver):
    name = "aiokafka"

    def produce(self, server: Kafka, name: str, value: bytes, headers: Any = None) -> None:
        import asyncio

        from aiokafka import AIOKafkaProducer

        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=server.bootstrap)
            await producer.start()
            try:
                if headers is None:
                    await producer.send_and_wait(name, value)
                else:
                    await producer.send_and_wait(name, value, headers=headers)
            finally:
                await producer.stop()

        asyncio.run(send())

    async def _consumer(self, server: Kafka, name: str) -> Any:
        from aiokafka import AIOKafkaConsumer
        from aiokafka import TopicPartition as AioTopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=server.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        consumer.assign([AioTopicPartition(name, 0)])
        await consumer.seek_to_beginning()
        return consumer

    def consume_each(self, server: Kafka, name: str, count: int, handle: Any) -> List[Any]:
        import asyncio

        async def run() -> List[Any]:
            consumer = await self._consumer(server, name)
            seen: List[Any] = []
            try:
                async with asyncio.timeout(15):
                    async for record in consumer:  # getone() underneath
                        seen.append((record.topic, record.value))
                        handle(record)
                        if len(seen) == count:
                            break
            finally:
                await consumer.stop()
            return seen

        return asyncio.run(run())

    def consume_batch(self, server: Kafka, name: str, count: int) -> List[Any]:
        import asyncio

        async def run() -> List[Any]:
            consumer = await self._consumer(server, name)
            seen: List[Any] = []
            deadline = time.monotonic() + 15
            try:
                while len(seen) < count and time.monotonic() < deadline:
                    batches = await consumer.getmany(timeout_ms=500)
                    for batch in batches.values():
                        seen.extend((r.topic, r.value) for r in batch)
            finally:
                await consumer.stop()
            return seen

        return asyncio.run(run())


DRIVERS: List[Driver] = [Confluent(), KafkaPython(), AioKafka()]
