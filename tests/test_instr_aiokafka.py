"""aiokafka against a Tansu broker: what is particular to it (``send_and_wait`` is one span with
its inner ``send``; ``getone`` / async iteration leave the record's entry active in the task;
``getmany``). The common behaviour of the three Kafka clients is in test_kafka_e2e.py, the
contract in test_instrumentation_contract.py."""

from __future__ import annotations

import asyncio
from typing import Any, List

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.tracer import current_span
from tests.instr_support import exits, traced
from tests.kafka_support import fresh_topic
from tests.servers import Kafka

__all__ = ["traced"]


async def _produce(server: Kafka, name: str, values: List[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=server.bootstrap)
    await producer.start()
    try:
        with instana.entry_span("job"):
            for value in values:
                await producer.send_and_wait(name, value)
    finally:
        await producer.stop()


async def _consumer(server: Kafka, name: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=server.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign([TopicPartition(name, 0)])
    await consumer.seek_to_beginning()
    return consumer


def test_send_and_wait_is_one_span(traced: Client, acceptor: Acceptor, kafka_server: Kafka) -> None:
    name = fresh_topic(kafka_server, "aio-one")
    asyncio.run(_produce(kafka_server, name, [b"v"]))
    spans = acceptor.wait_for_spans(2)
    (exit_span,) = exits(spans)
    assert exit_span["data"] == {"kafka": {"service": name, "access": "send"}}


def test_getone_and_async_iteration_leave_the_entry_active_in_the_task(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    name = fresh_topic(kafka_server, "aio-getone")
    asyncio.run(_produce(kafka_server, name, [b"a", b"b", b"c"]))
    sent = exits(acceptor.wait_for_spans(4))
    acceptor.clear()

    async def consume() -> List[Any]:
        consumer = await _consumer(kafka_server, name)
        seen: List[Any] = []
        try:
            # awaited in this task (asyncio.wait_for would run it as a task of its own, whose
            # context the entry could not outlive)
            async with asyncio.timeout(10):
                await consumer.getone()
            seen.append(current_span())
            async for _record in consumer:
                seen.append(current_span())
                with instana.span("handle"):
                    pass
                if len(seen) == 3:
                    break
        finally:
            await consumer.stop()
        assert current_span() is None
        return seen

    seen = asyncio.run(consume())
    assert [s.name for s in seen] == ["kafka"] * 3
    spans = acceptor.wait_for_spans(5)
    entries = [s for s in spans if s["n"] == "kafka"]
    assert sorted(s["p"] for s in entries) == sorted(s["s"] for s in sent)
    handles = [s for s in spans if s["n"] != "kafka"]
    assert {s["p"] for s in handles} <= {s["s"] for s in entries}


def test_getmany_opens_an_entry_per_record(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    name = fresh_topic(kafka_server, "aio-many")
    asyncio.run(_produce(kafka_server, name, [b"a", b"b"]))
    sent = exits(acceptor.wait_for_spans(3))
    acceptor.clear()

    async def consume() -> int:
        consumer = await _consumer(kafka_server, name)
        count = 0
        try:
            for _ in range(20):
                batches = await consumer.getmany(timeout_ms=500)
                count += sum(len(b) for b in batches.values())
                assert current_span() is None  # a batch's entries are not active
                if count == 2:
                    break
        finally:
            await consumer.stop()
        return count

    assert asyncio.run(consume()) == 2
    entries = acceptor.wait_for_spans(2)
    assert sorted(s["p"] for s in entries) == sorted(s["s"] for s in sent)
