"""kafka-python's KafkaProducer.send against a Tansu broker (one producer per broker, as an
application keeps it; the scenario waits for the acknowledgement and reads the record back
untraced)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from kafka import KafkaProducer

from tests.kafka_support import last_context, topic
from tests.scenarios import Scenario
from tests.servers import Kafka

TOPIC = "contract-kafka-python"
_producers: Dict[int, KafkaProducer] = {}


def producer_for(target: Kafka) -> KafkaProducer:
    producer = _producers.get(target.port)
    if producer is None:
        producer = _producers[target.port] = KafkaProducer(bootstrap_servers=target.bootstrap)
    return producer


class Send(Scenario):
    label = "kafka-python-send"
    fixture = "kafka_server"
    imports = ("kafka",)
    span_name = "kafka"
    error_path = ("kafka",)
    error = ValueError  # neither key nor value

    def call(self, target: Kafka) -> Any:
        future = producer_for(target).send(
            topic(target, TOPIC), b"order 7", headers=[("tenant", b"acme")]
        )
        return future.get(10).topic

    def failing_call(self, target: Kafka) -> Any:
        return producer_for(target).send(topic(target, TOPIC))

    def sent_context(self, target: Kafka) -> Optional[Mapping[str, str]]:
        return last_context(target, topic(target, TOPIC))


SCENARIOS = [Send()]
