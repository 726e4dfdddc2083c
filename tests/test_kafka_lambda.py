"""Kafka through the real Lambda runtime client: ``python -m awslambdaric`` runs the layer's
handler against our Runtime API emulator. The function produces to a Tansu broker with each of
the three clients, in the string, the legacy binary and both header formats; then Lambda
invocations fed MSK and self-managed Kafka events built from those very records (header values
as arrays of byte values, as Lambda delivers them) continue each producer's trace."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from demo.lambda_runtime import Invocation, RuntimeAPI, start_runtime
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY
from tests.kafka_support import fresh_topic, records
from tests.servers import Kafka

LAYER_HANDLER = "instana_serverless.lambda_layer.handler"
CLIENTS = ("confluent-kafka", "kafka-python", "aiokafka")

APP = """
import asyncio

import confluent_kafka
from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

HEADERS = [("tenant", b"acme")]


async def aio_send(bootstrap, topic):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"order", headers=HEADERS)
    finally:
        await producer.stop()


def handle(event, context):
    client = event.get("produce")
    if client is None:  # a Kafka event
        return {"records": sum(len(v) for v in event["records"].values())}
    bootstrap, topic = event["bootstrap"], event["topic"]
    if client == "confluent-kafka":
        producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
        producer.produce(topic, b"order", headers=HEADERS)
        assert producer.flush(10) == 0
    elif client == "kafka-python":
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        producer.send(topic, b"order", headers=HEADERS).get(10)
        producer.close(timeout=5)
    else:
        asyncio.run(aio_send(bootstrap, topic))
    return {"sent": client}
"""


def as_lambda_record(message: Any) -> Dict[str, Any]:
    """A record as Lambda's Kafka event source delivers it."""
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": message.timestamp()[1],
        "timestampType": "CREATE_TIME",
        "value": base64.b64encode(message.value() or b"").decode(),
        "headers": [{name: list(value)} for name, value in message.headers() or []],
    }


def kafka_event(source: str, lambda_records: List[Dict[str, Any]]) -> Dict[str, Any]:
    event: Dict[str, Any] = {
        "eventSource": source,
        "bootstrapServers": "127.0.0.1:9092",
        "records": {f"{r['topic']}-{r['partition']}": [] for r in lambda_records},
    }
    if source == "aws:kafka":
        event["eventSourceArn"] = "arn:aws:kafka:eu-central-1:123456789012:cluster/orders/1"
    for record in lambda_records:
        event["records"][f"{record['topic']}-{record['partition']}"].append(record)
    return event


class Run:
    def __init__(self, header_format: str) -> None:
        self.header_format = header_format
        self.spans: List[Dict[str, Any]] = []
        self.results: List[Invocation] = []
        self.topics: Dict[str, str] = {}
        self.output = ""


@pytest.fixture(scope="module", params=["string", "binary", "both"])
def run(
    request: pytest.FixtureRequest, kafka_server: Kafka, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    code: Path = tmp_path_factory.mktemp("kafka-function")
    (code / "app.py").write_text(APP)
    result = Run(request.param)
    plain = fresh_topic(kafka_server, "plain")
    # a record without context, as from an untraced producer: the events lead with it
    import confluent_kafka

    untraced = confluent_kafka.cimpl.Producer({"bootstrap.servers": kafka_server.bootstrap})
    untraced.produce(plain, b"untraced")
    assert untraced.flush(10) == 0
    (plain_record,) = records(kafka_server, plain)
    with Acceptor(key=AGENT_KEY) as acceptor, RuntimeAPI() as api:
        proc = start_runtime(
            api,
            LAYER_HANDLER,
            code_dir=code,
            env={
                "LAMBDA_HANDLER": "app.handle",
                "INSTANA_ENDPOINT_URL": acceptor.url,
                "INSTANA_AGENT_KEY": AGENT_KEY,
                "INSTANA_KAFKA_HEADER_FORMAT": request.param,
                "INSTANA_LAMBDA_EXTENSION": "false",
            },
        )
        try:
            for client in CLIENTS:
                topic = result.topics[client] = fresh_topic(kafka_server, "from-lambda")
                event = {"produce": client, "bootstrap": kafka_server.bootstrap, "topic": topic}
                result.results.append(api.invoke(event, timeout_s=60))
            for client in CLIENTS:
                (message,) = records(kafka_server, result.topics[client])
                lambda_records = [as_lambda_record(plain_record), as_lambda_record(message)]
                result.results.append(api.invoke(kafka_event("aws:kafka", lambda_records)))
            every = [as_lambda_record(records(kafka_server, result.topics[c])[0]) for c in CLIENTS]
            result.results.append(api.invoke(kafka_event("SelfManagedKafka", every)))
            acceptor.wait_for_spans(10, timeout=10)
        finally:
            proc.terminate()
            result.output = proc.communicate(timeout=10)[0]
        result.spans = acceptor.spans()
    yield result


def test_every_invocation_is_answered(run: Run) -> None:
    assert [r.outcome for r in run.results] == ["response"] * 7, run.output


def _producers(run: Run) -> Dict[str, Dict[str, Any]]:
    exits = [s for s in run.spans if s["n"] == "kafka" and s["k"] == 2]
    return {s["data"]["kafka"]["service"]: s for s in exits}


def test_each_client_produces_a_kafka_exit_under_the_lambda_entry(run: Run) -> None:
    producers = _producers(run)
    assert sorted(producers) == sorted(run.topics.values())
    entries = {s["s"]: s for s in run.spans if s["n"] == "aws.lambda.entry"}
    for exit_span in producers.values():
        assert exit_span["data"]["kafka"]["access"] == "send"
        assert entries[exit_span["p"]]["t"] == exit_span["t"]


def test_an_msk_event_built_from_the_records_continues_each_producers_trace(run: Run) -> None:
    producers = _producers(run)
    kafka_entries = [
        s
        for s in run.spans
        if s["n"] == "aws.lambda.entry" and s["data"]["lambda"].get("kafka", {}).get("source")
    ]
    msk = [s for s in kafka_entries if s["data"]["lambda"]["kafka"]["source"] == "aws:kafka"]
    assert len(msk) == 3
    for client, entry in zip(CLIENTS, msk):
        producer = producers[run.topics[client]]
        assert (entry["t"], entry["p"]) == (producer["t"], producer["s"]), client
        assert entry["data"]["lambda"]["trigger"] == "aws:lambda.invoke"
        assert entry["data"]["lambda"]["kafka"]["count"] == 2
    (self_managed,) = [
        s for s in kafka_entries if s["data"]["lambda"]["kafka"]["source"] == "SelfManagedKafka"
    ]
    first = producers[run.topics[CLIENTS[0]]]
    assert (self_managed["t"], self_managed["p"]) == (first["t"], first["s"])


def test_the_records_carry_the_format_the_environment_asked_for(
    run: Run, kafka_server: Kafka
) -> None:
    names = {
        "string": ["x_instana_t", "x_instana_s", "x_instana_l_s"],
        "binary": ["X_INSTANA_C", "X_INSTANA_L"],
        "both": ["x_instana_t", "x_instana_s", "x_instana_l_s", "X_INSTANA_C", "X_INSTANA_L"],
    }[run.header_format]
    for client in CLIENTS:
        (message,) = records(kafka_server, run.topics[client])
        assert [name for name, _ in message.headers()] == ["tenant", *names], client
