"""kafka-python against a Tansu broker: what is particular to it (iteration fetches through
``poll`` without doubling the entries; positional headers). The common behaviour of the three
Kafka clients is in test_kafka_e2e.py, the contract in test_instrumentation_contract.py."""

from __future__ import annotations

from typing import Any, List

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.tracer import current_span
from tests.instr_support import exits, traced
from tests.kafka_support import context_of, fresh_topic, last_headers
from tests.servers import Kafka

__all__ = ["traced"]


def _consumer(server: Kafka, name: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=server.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10000,
    )
    consumer.assign([TopicPartition(name, 0)])
    return consumer


def test_positional_headers_are_kept(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    name = fresh_topic(kafka_server, "kp-headers")
    producer = KafkaProducer(bootstrap_servers=kafka_server.bootstrap)
    user = [("tenant", b"acme")]
    with instana.entry_span("job"):
        producer.send(name, b"v", None, user).get(10)
    producer.close(timeout=5)
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    headers = last_headers(kafka_server, name)
    assert headers[0] == ("tenant", b"acme") and user == [("tenant", b"acme")]
    assert context_of(headers)["x-instana-s"] == exit_span["s"]


def test_iteration_opens_one_entry_per_record_and_each_is_active_while_handled(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    name = fresh_topic(kafka_server, "kp-iter")
    producer = KafkaProducer(bootstrap_servers=kafka_server.bootstrap)
    with instana.entry_span("job"):
        for value in (b"a", b"b", b"c"):
            producer.send(name, value)
        producer.flush(10)
    producer.close(timeout=5)
    sent = exits(acceptor.wait_for_spans(4))
    acceptor.clear()
    consumer = _consumer(kafka_server, name)
    active: List[Any] = []
    for _record in consumer:  # fetches through poll(): no entries of its own
        active.append(current_span())
        if len(active) == 3:
            break
    consumer.close()
    assert [s.name for s in active] == ["kafka"] * 3
    assert len({id(s) for s in active}) == 3
    entries = acceptor.wait_for_spans(3)
    assert len(entries) == 3
    assert sorted(s["p"] for s in entries) == sorted(s["s"] for s in sent)


def test_an_empty_poll_opens_nothing(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    consumer = _consumer(kafka_server, fresh_topic(kafka_server, "kp-empty"))
    assert consumer.poll(timeout_ms=200) == {}
    consumer.close()
    assert traced.flush() and acceptor.spans() == []


def test_headers_it_refuses_are_refused_as_without_us(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    import pytest

    name = fresh_topic(kafka_server, "kp-refused")
    producer = KafkaProducer(bootstrap_servers=kafka_server.bootstrap)
    try:
        with pytest.raises(TypeError, match="list-type"), instana.entry_span("job"):
            producer.send(name, b"v", headers=(("tenant", b"acme"),))
    finally:
        producer.close(timeout=5)
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert "list-type" in exit_span["data"]["kafka"]["error"]
