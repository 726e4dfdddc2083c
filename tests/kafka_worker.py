"""A Kafka consumer worker, run as its own process by ``tests/test_kafka_workers.py``: what a
Cloud Run or Fargate worker does with the library when no wrapper covers it.

``python -m tests.kafka_worker CLIENT TOPIC BOOTSTRAP DOWNSTREAM_URL``: calls
``instana_serverless.instrument()`` first, then imports ``CLIENT`` (confluent-kafka,
kafka-python or aiokafka), reads ``TOPIC`` from its start and, for each record, makes one HTTP
call to ``DOWNSTREAM_URL`` (its exit span belongs under the record's entry). It listens on
``$PORT`` once it consumes (the test's readiness signal, Cloud Run's too) and runs until it is
terminated: its spans must leave while it keeps working, not at exit.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from typing import Any, Callable

import instana_serverless

HandleRecord = Callable[[], None]


def listen() -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(os.environ["PORT"])))
    server.listen()
    return server


def confluent(topic: str, bootstrap: str, handle: HandleRecord) -> None:
    import confluent_kafka

    consumer: Any = confluent_kafka.Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "worker", "enable.auto.commit": False}
    )
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
    ready = listen()
    try:
        while True:  # the next poll ends the entry of the record handled before
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                handle()
    finally:
        ready.close()


def kafka_python(topic: str, bootstrap: str, handle: HandleRecord) -> None:
    from kafka import KafkaConsumer, TopicPartition

    consumer: Any = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    consumer.assign([TopicPartition(topic, 0)])
    ready = listen()
    try:
        for _record in consumer:
            handle()
    finally:
        ready.close()


def aiokafka(topic: str, bootstrap: str, handle: HandleRecord) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run() -> None:
        consumer: Any = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning()
        ready = listen()
        try:
            async for _record in consumer:
                handle()
        finally:
            ready.close()

    asyncio.run(run())


CLIENTS = {"confluent-kafka": confluent, "kafka-python": kafka_python, "aiokafka": aiokafka}


def main(client: str, topic: str, bootstrap: str, downstream: str) -> None:
    instana_serverless.instrument()  # before the client is imported, as a worker would

    def handle() -> None:
        with urllib.request.urlopen(downstream, timeout=5) as response:
            response.read()

    CLIENTS[client](topic, bootstrap, handle)


if __name__ == "__main__":
    main(*sys.argv[1:5])
