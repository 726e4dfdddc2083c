"""Kafka across the three clients, against a Tansu broker: a Lambda function produces with each
client in each header format; every consumer continues that trace (one trace, producer exit ->
consumer entry -> the consumer's own work); the environment's header format wins over code;
suppression and correlation off; batches."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.kafka_context import BINARY, BOTH, STRING
from tests.conftest import AGENT_KEY
from tests.instr_support import exits, traced
from tests.kafka_support import DRIVERS, Driver, fresh_topic, last_headers
from tests.lambda_fixtures import make_context
from tests.servers import Kafka

__all__ = ["traced"]  # a fixture, used by name as a test argument

NAMES = {
    STRING: {"x_instana_t", "x_instana_s", "x_instana_l_s"},
    BINARY: {"X_INSTANA_C", "X_INSTANA_L"},
    BOTH: {"x_instana_t", "x_instana_s", "x_instana_l_s", "X_INSTANA_C", "X_INSTANA_L"},
}
OTHER = {STRING: BINARY, BINARY: BOTH, BOTH: STRING}
IDS = [d.name for d in DRIVERS]


def configure(acceptor: Acceptor, environ: Dict[str, str], **options: Any) -> Client:
    return instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, **options),
        environ=environ,
    )


def produce_in_lambda(
    acceptor: Acceptor, producer: Driver, server: Kafka, name: str, headers: Any = None
) -> Dict[str, Any]:
    """One Lambda invocation producing one record: its kafka exit span."""

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        producer.produce(server, name, b"order 7", headers)
        return "sent"

    assert handler({}, make_context()) == "sent"
    spans = acceptor.wait_for_spans(2)
    (exit_span,) = exits(spans)
    (entry,) = [s for s in spans if s["k"] == 1]
    assert exit_span["p"] == entry["s"] and exit_span["t"] == entry["t"]
    acceptor.clear()
    return exit_span


def consumed(acceptor: Acceptor, count: int) -> List[Dict[str, Any]]:
    spans = acceptor.wait_for_spans(count)
    acceptor.clear()
    return spans


@pytest.mark.parametrize("header_format", [STRING, BINARY, BOTH])
@pytest.mark.parametrize("producer", DRIVERS, ids=IDS)
def test_a_lambda_producer_and_every_consumer_make_one_trace(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka, producer: Driver, header_format: str
) -> None:
    # the environment wins over code for the header format
    configure(
        acceptor,
        {"INSTANA_KAFKA_HEADER_FORMAT": header_format},
        kafka_header_format=OTHER[header_format],
    )
    name = fresh_topic(kafka_server, "orders")
    exit_span = produce_in_lambda(
        acceptor, producer, kafka_server, name, headers=[("tenant", b"acme")]
    )
    assert exit_span["n"] == "kafka"
    assert exit_span["data"] == {"kafka": {"service": name, "access": "send"}}

    headers = last_headers(kafka_server, name)
    assert headers[0] == ("tenant", b"acme")  # the user's header kept
    assert {key for key, _ in headers[1:]} == NAMES[header_format]
    written = dict(headers)
    if header_format != BINARY:
        assert written["x_instana_t"] == exit_span["t"].rjust(32, "0").encode()
        assert written["x_instana_s"] == exit_span["s"].encode()
        assert written["x_instana_l_s"] == b"1"
    if header_format != STRING:
        # 24 bytes: the trace id right-aligned in 16, the span id in the last 8 (go-sensor)
        assert written["X_INSTANA_C"] == bytes(8) + bytes.fromhex(exit_span["t"]) + bytes.fromhex(
            exit_span["s"]
        )
        assert written["X_INSTANA_L"] == b"\x01"

    for consumer in DRIVERS:

        def handle(record: Any) -> None:
            with instana.span("handle-order"):
                pass

        assert consumer.consume_each(kafka_server, name, 1, handle) == [(name, b"order 7")]
        spans = consumed(acceptor, 2)
        (entry,) = [s for s in spans if s["k"] == 1]
        (work,) = [s for s in spans if s["k"] != 1]
        assert entry["n"] == "kafka", consumer.name
        assert entry["data"]["kafka"] == {"service": name, "access": "consume"}
        assert (entry["t"], entry["p"]) == (exit_span["t"], exit_span["s"]), consumer.name
        assert (work["t"], work["p"]) == (entry["t"], entry["s"])


@pytest.mark.parametrize("consumer", DRIVERS, ids=IDS)
def test_batches_open_one_entry_per_record_each_continuing_its_producer(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka, consumer: Driver
) -> None:
    name = fresh_topic(kafka_server, "batch")
    producers = [produce_in_lambda(acceptor, p, kafka_server, name) for p in DRIVERS]
    assert len(consumer.consume_batch(kafka_server, name, 3)) == 3
    entries = consumed(acceptor, 3)
    assert sorted((s["t"], s["p"]) for s in entries) == sorted((s["t"], s["s"]) for s in producers)
    assert all(s["n"] == "kafka" and s["k"] == 1 for s in entries)
    assert all(s["data"]["kafka"] == {"service": name, "access": "consume"} for s in entries)


@pytest.mark.parametrize("consumer", DRIVERS, ids=IDS)
def test_a_suppressed_record_makes_no_span_and_passes_level_zero_on(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka, consumer: Driver
) -> None:
    name = fresh_topic(kafka_server, "quiet")
    onward = fresh_topic(kafka_server, "quiet-onward")
    with instana.entry_span("caller", headers={"X-INSTANA-L": "0"}):
        DRIVERS[0].produce(kafka_server, name, b"hush")
    assert dict(last_headers(kafka_server, name)) == {"x_instana_l_s": b"0"}

    def handle(record: Any) -> None:
        DRIVERS[1].produce(kafka_server, onward, b"onward")  # inside the suppressed entry

    consumer.consume_each(kafka_server, name, 1, handle)
    assert traced.flush()
    assert acceptor.spans() == []
    assert dict(last_headers(kafka_server, onward)) == {"x_instana_l_s": b"0"}


def test_binary_suppression_is_read_and_written(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka
) -> None:
    configure(acceptor, {"INSTANA_KAFKA_HEADER_FORMAT": "binary"})
    name = fresh_topic(kafka_server, "quiet-binary")
    with instana.entry_span("caller", headers={"X-INSTANA-L": "0"}):
        DRIVERS[2].produce(kafka_server, name, b"hush")
    assert last_headers(kafka_server, name) == [("X_INSTANA_L", b"\x00")]
    DRIVERS[0].consume_each(kafka_server, name, 1, lambda record: None)
    assert traced.flush()
    assert acceptor.spans() == []


@pytest.mark.parametrize("producer", DRIVERS, ids=IDS)
def test_correlation_off_sends_no_headers_and_reads_none(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka, producer: Driver
) -> None:
    configure(acceptor, {"INSTANA_KAFKA_TRACE_CORRELATION": "false"}, kafka_trace_correlation=True)
    name = fresh_topic(kafka_server, "uncorrelated")
    exit_span = produce_in_lambda(acceptor, producer, kafka_server, name)
    assert last_headers(kafka_server, name) == []
    # a record that does carry context is not continued either
    DRIVERS[0].produce(
        kafka_server, name, b"x", headers=[("x_instana_t", b"ab" * 8), ("x_instana_s", b"cd" * 8)]
    )
    producer.consume_each(kafka_server, name, 2, lambda record: None)
    entries = consumed(acceptor, 2)
    assert all("p" not in s for s in entries)
    assert {s["t"] for s in entries}.isdisjoint({exit_span["t"], "abababababababab"})


@pytest.mark.parametrize("consumer", DRIVERS, ids=IDS)
def test_a_consumer_inside_a_lambda_joins_its_trace_and_leaves_with_it(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka, consumer: Driver
) -> None:
    """A record without context, read inside other traced work: its entry is a child of the
    Lambda entry and is sent with it, ended when the invocation ends at the latest."""
    name = fresh_topic(kafka_server, "in-lambda")
    DRIVERS[0].produce(kafka_server, name, b"plain")
    traced.flush()
    acceptor.clear()

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return consumer.consume_each(kafka_server, name, 1, lambda record: None)

    assert handler({}, make_context()) == [(name, b"plain")]
    spans = acceptor.wait_for_spans(2)
    by_name = {s["n"]: s for s in spans}
    assert by_name["kafka"]["p"] == by_name["aws.lambda.entry"]["s"]
    assert by_name["kafka"]["t"] == by_name["aws.lambda.entry"]["t"]


@pytest.mark.parametrize("consumer", DRIVERS, ids=IDS)
def test_a_record_with_context_read_inside_other_work_continues_its_producer(
    traced: Client, acceptor: Acceptor, kafka_server: Kafka, consumer: Driver
) -> None:
    """A worker's unit of work (here a Lambda invocation) polls a record a traced producer
    wrote: the record's entry is in the producer's trace, and leaves with the invocation."""
    name = fresh_topic(kafka_server, "in-work")
    exit_span = produce_in_lambda(acceptor, DRIVERS[0], kafka_server, name)

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        def handle(record: Any) -> None:
            with instana.span("handle-order"):
                pass

        return consumer.consume_each(kafka_server, name, 1, handle)

    assert handler({}, make_context()) == [(name, b"order 7")]
    spans = acceptor.wait_for_spans(3)
    by_name = {s["n"]: s for s in spans}
    entry = by_name["kafka"]
    assert (entry["t"], entry["p"]) == (exit_span["t"], exit_span["s"])
    assert by_name["sdk"]["p"] == entry["s"]
    assert by_name["aws.lambda.entry"]["t"] != entry["t"]
