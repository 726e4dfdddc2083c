"""confluent-kafka against a Tansu broker: what is particular to it (its C types replaced by
traced subclasses, headers as a mapping or positional, poll's entry lifetime). The common
behaviour of the three Kafka clients is in test_kafka_e2e.py, the contract in
test_instrumentation_contract.py."""

from __future__ import annotations

from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import TopicPartition, cimpl

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from instana_serverless.tracer import current_span
from tests.instr_support import exits, traced
from tests.kafka_support import context_of, fresh_topic, last_headers
from tests.servers import Kafka

__all__ = ["traced"]


def test_the_clients_become_traced_subclasses_and_come_back(traced: Client) -> None:
    assert confluent_kafka.Producer is not cimpl.Producer
    assert issubclass(confluent_kafka.Producer, cimpl.Producer)
    assert confluent_kafka.Consumer.__name__ == "Consumer"
    uninstrument()
    assert confluent_kafka.Producer is cimpl.Producer
    assert confluent_kafka.Consumer is cimpl.Consumer
    instrument()


@pytest.mark.parametrize("positional", [False, True])
def test_mapping_headers_are_kept_and_a_stale_context_replaced(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka, positional: bool
) -> None:
    name = fresh_topic(kafka_server, "confluent-headers")
    user = {"tenant": "acme", "X_INSTANA_T": "stale", "x_instana_s": b"stale"}
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_server.bootstrap})
    with instana.entry_span("job"):
        if positional:
            producer.produce(name, b"v", None, -1, None, None, 0, user)
        else:
            producer.produce(name, b"v", headers=user)
    assert producer.flush(10) == 0
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    headers = last_headers(kafka_server, name)
    assert headers[0] == ("tenant", b"acme")
    assert [k for k, _ in headers] == ["tenant", "x_instana_t", "x_instana_s", "x_instana_l_s"]
    assert context_of(headers)["x-instana-s"] == exit_span["s"]
    assert user["X_INSTANA_T"] == "stale"  # the caller's mapping untouched


def test_polls_entry_is_active_until_the_next_poll(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    name = fresh_topic(kafka_server, "confluent-poll")
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_server.bootstrap})
    with instana.entry_span("producer"):
        producer.produce(name, b"v")
    assert producer.flush(10) == 0
    acceptor.wait_for_spans(2)
    acceptor.clear()
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": kafka_server.bootstrap, "group.id": "t", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(name, 0, 0)])
    message = None
    for _ in range(50):
        message = consumer.poll(0.2)
        if message is not None:
            break
    assert message is not None
    active = current_span()
    assert active is not None and active.name == "kafka" and not active.finished
    assert acceptor.spans() == []  # still handling the record
    assert consumer.poll(0.1) is None
    assert current_span() is None and active.finished
    (entry,) = acceptor.wait_for_spans(1)
    assert entry["data"]["kafka"] == {"service": name, "access": "consume"}
    consumer.close()


def test_a_failing_poll_passes_the_library_error(traced: Client, kafka_server: Kafka) -> None:
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": kafka_server.bootstrap, "group.id": "t"}
    )
    consumer.close()
    with pytest.raises(RuntimeError, match="closed"):
        consumer.poll(0)
    assert current_span() is None


def test_a_partition_eof_event_opens_no_entry(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    name = fresh_topic(kafka_server, "confluent-eof")
    consumer: Any = confluent_kafka.Consumer(
        {
            "bootstrap.servers": kafka_server.bootstrap,
            "group.id": "t",
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(name, 0, 0)])
    events = [consumer.poll(0.2) for _ in range(10)]
    assert any(e is not None and e.error() is not None for e in events)
    consumer.close()
    assert traced.flush() and acceptor.spans() == []


def test_serializing_producer_and_deserializing_consumer_make_one_trace(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    from confluent_kafka.serialization import StringDeserializer, StringSerializer

    name = fresh_topic(kafka_server, "confluent-serializing")
    producer = confluent_kafka.SerializingProducer(
        {"bootstrap.servers": kafka_server.bootstrap, "value.serializer": StringSerializer()}
    )
    with instana.entry_span("producer"):
        producer.produce(name, value="order 7", headers={"tenant": "acme"})
    assert producer.flush(10) == 0
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["data"]["kafka"] == {"service": name, "access": "send"}
    acceptor.clear()
    consumer = confluent_kafka.DeserializingConsumer(
        {
            "bootstrap.servers": kafka_server.bootstrap,
            "group.id": "t",
            "value.deserializer": StringDeserializer(),
        }
    )
    consumer.assign([TopicPartition(name, 0, 0)])
    message = None
    for _ in range(50):
        message = consumer.poll(0.2)
        if message is not None:
            break
    assert message is not None and message.value() == "order 7"
    assert dict(message.headers())["tenant"] == b"acme"
    consumer.close()
    (entry,) = acceptor.wait_for_spans(1)
    assert (entry["n"], entry["k"]) == ("kafka", 1)
    assert (entry["t"], entry["p"]) == (exit_span["t"], exit_span["s"])
