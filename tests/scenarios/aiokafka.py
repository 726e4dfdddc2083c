"""aiokafka's AIOKafkaProducer.send_and_wait and send against a Tansu broker (a producer per
event loop, as aiokafka requires)."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Optional

from aiokafka import AIOKafkaProducer

from tests.kafka_support import last_context, topic
from tests.scenarios import Scenario
from tests.servers import Kafka

TOPIC = "contract-aiokafka"


async def _send(target: Kafka, wait: bool, value: Any) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=target.bootstrap)
    await producer.start()
    try:
        name = topic(target, TOPIC)
        if wait:
            metadata = await producer.send_and_wait(name, value, headers=[("tenant", b"acme")])
            return metadata.topic
        future = await producer.send(name, value, headers=[("tenant", b"acme")])
        return (await future).topic
    finally:
        await producer.stop()


class SendAndWait(Scenario):
    label = "aiokafka-send-and-wait"
    fixture = "kafka_server"
    imports = ("aiokafka",)
    span_name = "kafka"
    error_path = ("kafka",)
    error = TypeError  # a value that is not bytes (no serializer)
    wait = True

    def call(self, target: Kafka) -> Any:
        return asyncio.run(_send(target, self.wait, b"order 7"))

    def failing_call(self, target: Kafka) -> Any:
        return asyncio.run(_send(target, self.wait, 123))

    def sent_context(self, target: Kafka) -> Optional[Mapping[str, str]]:
        return last_context(target, topic(target, TOPIC))


class Send(SendAndWait):
    label = "aiokafka-send"
    wait = False


SCENARIOS = [SendAndWait(), Send()]
