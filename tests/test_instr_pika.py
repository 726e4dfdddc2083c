"""pika against a real RabbitMQ node: the publish exit and its headers, consumer entries from
``basic_consume`` callbacks, ``basic_get`` and the ``consume`` generator, and the hop from a
Lambda function publishing with pika to a worker consuming with aio-pika: one trace."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Dict, Iterator, List

import aio_pika
import pika
import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.instrumentation import _entry
from tests.conftest import configure_for
from tests.instr_support import exits, in_lambda, traced
from tests.lambda_fixtures import make_context
from tests.scenarios.pika import connect, last_headers
from tests.servers import RabbitMQ

__all__ = ["traced"]  # a fixture, used by name as a test argument


@pytest.fixture
def queue(rabbitmq_server: RabbitMQ) -> Iterator[str]:
    """A fresh queue on the session's broker, deleted afterwards."""
    name = f"orders-{uuid.uuid4().hex[:8]}"
    connection = connect(rabbitmq_server)
    connection.channel().queue_declare(name)
    yield name
    connection.channel().queue_delete(name)
    connection.close()


def publish(server: RabbitMQ, queue: str, headers: Dict[str, Any], body: bytes = b"order") -> None:
    connection = connect(server)
    try:
        properties = pika.BasicProperties(headers=headers, content_type="text/plain")
        connection.channel().basic_publish("", queue, body, properties)
    finally:
        connection.close()


def consume_with_pika(server: RabbitMQ, queue: str, handle: Any, count: int = 1) -> List[bytes]:
    """``handle(channel, method, properties, body)`` as a ``basic_consume`` callback until
    ``count`` messages arrived (acked after the callback)."""
    bodies: List[bytes] = []
    connection = connect(server)
    try:
        channel = connection.channel()

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            bodies.append(body)
            ch.basic_ack(method.delivery_tag)
            handle(ch, method, properties, body)

        channel.basic_consume(queue, on_message)
        deadline = 100
        while len(bodies) < count and deadline:
            connection.process_data_events(time_limit=0.1)
            deadline -= 1
    finally:
        connection.close()
    return bodies


def rabbitmq_spans(acceptor: Acceptor, count: int) -> List[Dict[str, Any]]:
    spans = acceptor.wait_for_spans(count)
    return [s for s in spans if s["n"] == "rabbitmq"]


# --- publishing ------------------------------------------------------------------------------


def test_publish_in_a_lambda_handler_is_an_exit_with_context_headers(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    mine = {"tenant": "acme", "X-INSTANA-T": "stale-trace", "x-instana-s": "stale-span"}
    properties = pika.BasicProperties(headers=mine, content_type="application/json")
    before = dict(mine)

    def body() -> None:
        connection = connect(rabbitmq_server)
        try:
            connection.channel().basic_publish("", queue, b'{"id": 7}', properties)
        finally:
            connection.close()

    _, entry, (exit_span,) = in_lambda(acceptor, body)
    assert exit_span["n"] == "rabbitmq" and exit_span["p"] == entry["s"]
    assert exit_span["data"]["rabbitmq"] == {
        "sort": "publish",
        "exchange": "",
        "key": queue,
        "address": rabbitmq_server.address,
    }
    # the caller's properties and headers are left as they were
    assert mine == before and properties.headers is mine
    assert last_headers(rabbitmq_server, queue) == {
        "tenant": "acme",
        "X-INSTANA-T": exit_span["t"],
        "X-INSTANA-S": exit_span["s"],
        "X-INSTANA-L": "1",
    }


def test_publish_without_properties_gets_headers_and_keyword_arguments_work(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    connection = connect(rabbitmq_server)
    try:
        channel = connection.channel()
        with instana.entry_span("job"):
            channel.basic_publish(exchange="", routing_key=queue, body=b"order")
    finally:
        connection.close()
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["data"]["rabbitmq"]["key"] == queue
    headers = last_headers(rabbitmq_server, queue)
    assert headers == {
        "X-INSTANA-T": exit_span["t"],
        "X-INSTANA-S": exit_span["s"],
        "X-INSTANA-L": "1",
    }


# --- consuming -------------------------------------------------------------------------------


def test_pika_to_aio_pika_is_one_trace(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    """A Lambda function publishes with pika; a worker consumes with an aio-pika callback,
    which publishes on (an exit of the consumer's entry)."""

    def body() -> None:
        publish(rabbitmq_server, queue, {"tenant": "acme"})

    _, lambda_entry, (producer,) = in_lambda(acceptor, body)

    async def worker() -> None:
        async with await aio_pika.connect(rabbitmq_server.url) as connection:
            channel = await connection.channel()
            amqp_queue = await channel.declare_queue(queue)
            done = asyncio.Event()

            async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
                async with message.process():
                    assert message.headers["tenant"] == "acme"
                    await channel.default_exchange.publish(
                        aio_pika.Message(b"shipped"), routing_key=f"{queue}-out"
                    )
                    done.set()

            await amqp_queue.consume(on_message)
            await asyncio.wait_for(done.wait(), 10)

    asyncio.run(worker())
    spans = rabbitmq_spans(acceptor, 4)  # lambda entry, producer exit, consumer entry + exit
    (consumer,) = [s for s in spans if s["k"] == 1]
    assert (consumer["t"], consumer["p"]) == (lambda_entry["t"], producer["s"])
    assert consumer["ec"] == 0
    assert consumer["data"]["rabbitmq"] == {
        "sort": "consume",
        "exchange": "",
        "key": queue,
        "queue": queue,
        "address": rabbitmq_server.address,
    }
    (reply,) = [s for s in spans if s["k"] == 2 and s["s"] != producer["s"]]
    assert (reply["t"], reply["p"]) == (consumer["t"], consumer["s"])


def test_a_basic_consume_callback_runs_inside_the_entry(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    with instana.entry_span("producer") as producer:
        publish(rabbitmq_server, queue, {"tenant": "acme"})

    def handle(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        channel.basic_publish("", f"{queue}-out", b"shipped")  # an exit of the entry

    assert consume_with_pika(rabbitmq_server, queue, handle) == [b"order"]
    spans = acceptor.wait_for_spans(4)
    (publish_exit,) = [s for s in spans if s["k"] == 2 and s["p"] == producer.span_id]
    (consumer,) = [s for s in spans if s["n"] == "rabbitmq" and s["k"] == 1]
    (reply,) = [s for s in spans if s["k"] == 2 and s["p"] == consumer["s"]]
    assert (consumer["t"], consumer["p"]) == (producer.trace_id, publish_exit["s"])
    assert consumer["data"]["rabbitmq"]["queue"] == queue
    assert reply["data"]["rabbitmq"]["key"] == f"{queue}-out"


def test_an_error_in_the_callback_marks_the_entry_and_reaches_pika_unchanged(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    publish(rabbitmq_server, queue, {"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "42"})

    class Rejected(Exception):
        pass

    def handle(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        raise Rejected("order 7 is invalid")

    with pytest.raises(Rejected, match="order 7 is invalid"):
        consume_with_pika(rabbitmq_server, queue, handle)
    (consumer,) = rabbitmq_spans(acceptor, 1)
    assert consumer["k"] == 1 and consumer["ec"] == 1
    assert consumer["t"] == "1234567890abcdef"
    assert "Rejected: order 7 is invalid" in consumer["data"]["rabbitmq"]["error"]


def test_basic_get_continues_the_trace(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    with instana.entry_span("producer"):
        publish(rabbitmq_server, queue, {})
    connection = connect(rabbitmq_server)
    try:
        channel = connection.channel()
        _method, _properties, body = channel.basic_get(queue, auto_ack=True)
        assert body == b"order"
        assert channel.basic_get(queue, auto_ack=True) == (None, None, None)  # no span
    finally:
        connection.close()
    spans = acceptor.wait_for_spans(3)
    (producer_exit,) = exits(spans)
    (consumer,) = [s for s in spans if s["n"] == "rabbitmq" and s["k"] == 1]
    assert (consumer["t"], consumer["p"]) == (producer_exit["t"], producer_exit["s"])
    assert consumer["data"]["rabbitmq"]["sort"] == "consume"
    assert len(acceptor.spans()) == 3


def test_basic_get_inside_a_handler_without_context_joins_its_trace(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    publish(rabbitmq_server, queue, {"tenant": "acme"})  # untraced: no context in the message

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        connection = connect(rabbitmq_server)
        try:
            return connection.channel().basic_get(queue, auto_ack=True)[2]
        finally:
            connection.close()

    assert handler({}, make_context()) == b"order"
    spans = acceptor.wait_for_spans(2)
    (lambda_entry,) = [s for s in spans if s["n"] == "aws.lambda.entry"]
    (consumer,) = [s for s in spans if s["n"] == "rabbitmq"]
    assert (consumer["t"], consumer["p"]) == (lambda_entry["t"], lambda_entry["s"])


def test_the_consume_generator_keeps_each_entry_open_while_the_loop_body_runs(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    with instana.entry_span("producer"):
        publish(rabbitmq_server, queue, {}, b"first")
        publish(rabbitmq_server, queue, {}, b"second")
    connection = connect(rabbitmq_server)
    try:
        channel = connection.channel()
        for method, _properties, body in channel.consume(queue, inactivity_timeout=5):
            assert method is not None
            channel.basic_ack(method.delivery_tag)
            channel.basic_publish("", f"{queue}-out", body)  # an exit of this message's entry
            if body == b"second":
                break
        channel.cancel()
    finally:
        connection.close()
    spans = acceptor.wait_for_spans(7)
    producer_exits = [s for s in spans if s["k"] == 2 and s["data"]["rabbitmq"]["key"] == queue]
    consumers = sorted((s for s in spans if s["k"] == 1 and s["n"] == "rabbitmq"),
                       key=lambda s: s["ts"])  # fmt: skip
    assert len(producer_exits) == 2 and len(consumers) == 2
    assert sorted(c["p"] for c in consumers) == sorted(e["s"] for e in producer_exits)
    for consumer in consumers:
        (reply,) = [s for s in spans if s["k"] == 2 and s["p"] == consumer["s"]]
        assert reply["data"]["rabbitmq"]["key"] == f"{queue}-out"


def test_a_suppressed_message_makes_no_entry(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    with instana.entry_span("producer", headers={"X-INSTANA-L": "0"}):
        publish(rabbitmq_server, queue, {})
    handled: List[bytes] = []
    consume_with_pika(rabbitmq_server, queue, lambda ch, m, p, body: handled.append(body))
    assert handled == [b"order"]
    traced.flush()
    assert acceptor.spans() == []


@pytest.mark.parametrize("key", ["pika", "messaging"])
def test_disabled_consumers_make_no_entry_and_still_call_back(
    acceptor: Acceptor, traced: Client, rabbitmq_server: RabbitMQ, queue: str, key: str
) -> None:
    configure_for(acceptor, disabled_instrumentations=[key])  # after instrument(): per message
    publish(rabbitmq_server, queue, {"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "42"})
    handled: List[bytes] = []
    consume_with_pika(rabbitmq_server, queue, lambda ch, m, p, body: handled.append(body))
    assert handled == [b"order"]
    instana.flush()
    assert acceptor.spans() == []


def test_a_bug_of_ours_never_reaches_the_callback(
    traced: Client,
    acceptor: Acceptor,
    rabbitmq_server: RabbitMQ,
    queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(_entry, "open_entry", broken)
    publish(rabbitmq_server, queue, {"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "42"})
    handled: List[bytes] = []
    consume_with_pika(rabbitmq_server, queue, lambda ch, m, p, body: handled.append(body))
    assert handled == [b"order"]
    traced.flush()
    assert acceptor.spans() == []


def test_a_callback_registered_before_uninstrument_goes_quiet_after_it(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    from instana_serverless.instrumentation import uninstrument

    handled: List[bytes] = []
    connection = connect(rabbitmq_server)
    try:
        channel = connection.channel()
        channel.basic_consume(queue, lambda ch, m, p, body: handled.append(body), auto_ack=True)
        uninstrument()  # the wrapped callback stays registered with pika
        publish(rabbitmq_server, queue, {"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "42"})
        while not handled:
            connection.process_data_events(time_limit=0.1)
    finally:
        connection.close()
    assert handled == [b"order"]
    traced.flush()
    assert acceptor.spans() == []


def test_select_connection_publish_exit_and_consume_and_get_entries(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    """The asynchronous adapter: ``Channel.basic_publish`` is the exit, a ``basic_consume``
    and a ``basic_get`` callback each run inside an entry continuing it."""
    handled: List[str] = []
    parameters = pika.ConnectionParameters(host=rabbitmq_server.host, port=rabbitmq_server.port)

    def on_open(connection: Any) -> None:
        connection.channel(on_open_callback=on_channel)

    def on_channel(channel: Any) -> None:
        channel.basic_publish("", queue, b"first", pika.BasicProperties(headers={"n": 1}))
        channel.basic_publish("", queue, b"second", pika.BasicProperties(headers={"n": 2}))
        channel.basic_get(queue, on_get, auto_ack=True)

    def on_get(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        handled.append(f"get {body.decode()}")
        channel.basic_consume(queue, on_message, auto_ack=True)

    def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        handled.append(f"consume {body.decode()}")
        channel.connection.close()

    with instana.entry_span("job", flush=False) as job:
        connection = pika.SelectConnection(
            parameters,
            on_open_callback=on_open,
            on_close_callback=lambda *args: connection.ioloop.stop(),
        )
        connection.ioloop.start()
    instana.flush()
    assert handled == ["get first", "consume second"]
    spans = acceptor.wait_for_spans(5)
    publishes = sorted(exits(spans), key=lambda s: s["ts"])
    assert [s["p"] for s in publishes] == [job.span_id, job.span_id]
    consumers = [s for s in spans if s["n"] == "rabbitmq" and s["k"] == 1]
    assert sorted(c["p"] for c in consumers) == sorted(s["s"] for s in publishes)
    assert all(c["data"]["rabbitmq"]["queue"] == queue for c in consumers)


def test_a_suppressed_message_passes_level_zero_on_to_what_its_handler_publishes(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    onward = f"{queue}-onward"
    connection = connect(rabbitmq_server)
    connection.channel().queue_declare(onward)
    connection.close()
    publish(rabbitmq_server, queue, {"X-INSTANA-L": "0"})

    def handle(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        channel.basic_publish("", onward, b"shipped", pika.BasicProperties(headers={"n": 1}))

    consume_with_pika(rabbitmq_server, queue, handle)
    assert last_headers(rabbitmq_server, onward) == {"n": 1, "X-INSTANA-L": "0"}
    traced.flush()
    assert acceptor.spans() == []
