"""confluent-kafka's Producer.produce against a Tansu broker (the span covers queueing the
record; the scenario flushes it out and reads it back untraced)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import confluent_kafka

from tests.kafka_support import last_context, topic
from tests.scenarios import Scenario
from tests.servers import Kafka

TOPIC = "contract-confluent"


class Produce(Scenario):
    label = "confluent-kafka-produce"
    fixture = "kafka_server"
    imports = ("confluent_kafka",)
    span_name = "kafka"
    error_path = ("kafka",)
    error = TypeError  # a value that is not bytes, refused before anything is queued

    def call(self, target: Kafka) -> Any:
        # the module's Producer at call time: the traced subclass while instrumented
        producer = confluent_kafka.Producer({"bootstrap.servers": target.bootstrap})
        producer.produce(topic(target, TOPIC), b"order 7", headers=[("tenant", b"acme")])
        return producer.flush(10)

    def failing_call(self, target: Kafka) -> Any:
        producer = confluent_kafka.Producer({"bootstrap.servers": target.bootstrap})
        return producer.produce(topic(target, TOPIC), 123)

    def sent_context(self, target: Kafka) -> Optional[Mapping[str, str]]:
        return last_context(target, topic(target, TOPIC))


class SerializingProduce(Produce):
    label = "confluent-kafka-serializing-produce"
    error = TypeError  # the same value refused by the C producer underneath

    def call(self, target: Kafka) -> Any:
        from confluent_kafka.serialization import StringSerializer

        producer = confluent_kafka.SerializingProducer(
            {"bootstrap.servers": target.bootstrap, "value.serializer": StringSerializer()}
        )
        producer.produce(topic(target, TOPIC), value="order 7", headers=[("tenant", b"acme")])
        return producer.flush(10)

    def failing_call(self, target: Kafka) -> Any:
        producer = confluent_kafka.SerializingProducer({"bootstrap.servers": target.bootstrap})
        return producer.produce(topic(target, TOPIC), value=123)


SCENARIOS = [Produce(), SerializingProduce()]
