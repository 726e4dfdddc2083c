"""aio-pika against a real RabbitMQ node: the publish exit and its headers, consumer entries
from ``Queue.consume`` callbacks, queue iterators (plain and robust) and ``Queue.get``, and the
hop from a Lambda function publishing with aio-pika to a worker consuming with pika: one
trace."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Awaitable, Callable, Dict, Iterator, List

import aio_pika
import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.tracer import current_span
from tests.conftest import configure_for
from tests.instr_support import exits, in_lambda, traced
from tests.scenarios.pika import connect, last_headers
from tests.servers import RabbitMQ
from tests.test_instr_pika import consume_with_pika

__all__ = ["traced"]  # a fixture, used by name as a test argument

TRACE = "1234567890abcdef"
PARENT = "00000000000000aa"


@pytest.fixture
def queue(rabbitmq_server: RabbitMQ) -> Iterator[str]:
    """A fresh queue on the session's broker, deleted afterwards."""
    name = f"orders-{uuid.uuid4().hex[:8]}"
    connection = connect(rabbitmq_server)
    connection.channel().queue_declare(name)
    yield name
    connection.channel().queue_delete(name)
    connection.close()


def run(server: RabbitMQ, work: Callable[[Any], Awaitable[Any]], robust: bool = False) -> Any:
    """``await work(channel)`` on a fresh connection, in a fresh event loop."""

    async def main() -> Any:
        connect = aio_pika.connect_robust if robust else aio_pika.connect
        async with await connect(server.url) as connection:
            return await work(await connection.channel())

    return asyncio.run(main())


def publish(server: RabbitMQ, queue: str, headers: Dict[str, Any], *bodies: bytes) -> None:
    async def work(channel: Any) -> None:
        for body in bodies or (b"order",):
            message = aio_pika.Message(body, headers=dict(headers))
            await channel.default_exchange.publish(message, routing_key=queue)

    run(server, work)


def test_publish_in_a_lambda_handler_is_an_exit_with_context_headers(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    mine = {"tenant": "acme", "x-instana-t": "stale-trace"}
    message = aio_pika.Message(b'{"id": 7}', headers=mine, content_type="application/json")

    def body() -> Any:
        async def work(channel: Any) -> Any:
            return await channel.default_exchange.publish(message, routing_key=queue)

        return run(rabbitmq_server, work)

    _, entry, (exit_span,) = in_lambda(acceptor, body)
    assert exit_span["n"] == "rabbitmq" and exit_span["p"] == entry["s"] and exit_span["ec"] == 0
    assert exit_span["data"]["rabbitmq"] == {
        "sort": "publish",
        "exchange": "",
        "key": queue,
        "address": rabbitmq_server.address,
    }
    # the caller's message is left as it was
    assert message.headers is mine and mine == {"tenant": "acme", "x-instana-t": "stale-trace"}
    assert last_headers(rabbitmq_server, queue) == {
        "tenant": "acme",
        "X-INSTANA-T": exit_span["t"],
        "X-INSTANA-S": exit_span["s"],
        "X-INSTANA-L": "1",
    }


def test_aio_pika_to_pika_is_one_trace(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    """A Lambda function publishes with aio-pika; a worker consumes with a pika callback."""
    _, lambda_entry, (producer,) = in_lambda(
        acceptor, lambda: publish(rabbitmq_server, queue, {"tenant": "acme"})
    )
    handled: List[Any] = []
    consume_with_pika(
        rabbitmq_server, queue, lambda ch, method, properties, body: handled.append(properties)
    )
    assert handled[0].headers["tenant"] == "acme"
    spans = acceptor.wait_for_spans(3)
    (consumer,) = [s for s in spans if s["n"] == "rabbitmq" and s["k"] == 1]
    assert (consumer["t"], consumer["p"]) == (lambda_entry["t"], producer["s"])
    assert consumer["data"]["rabbitmq"] == {
        "sort": "consume",
        "exchange": "",
        "key": queue,
        "queue": queue,
        "address": rabbitmq_server.address,
    }


@pytest.mark.parametrize("robust", [False, True], ids=["connect", "connect_robust"])
def test_an_iterator_keeps_each_entry_open_while_the_loop_body_runs(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str, robust: bool
) -> None:
    publish(rabbitmq_server, queue, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT}, b"a", b"b")

    async def work(channel: Any) -> List[bytes]:
        amqp_queue = await channel.declare_queue(queue)
        bodies: List[bytes] = []
        active: List[Any] = []
        async with amqp_queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    bodies.append(message.body)
                    active.append(current_span())
                    # an exit of this message's entry
                    out = aio_pika.Message(message.body)
                    await channel.default_exchange.publish(out, routing_key=f"{queue}-out")
                if len(bodies) == 2:
                    break
        # the last message's entry ended when the iterator closed
        assert current_span() is None
        assert all(span is not None and span.name == "rabbitmq" for span in active)
        return bodies

    assert run(rabbitmq_server, work, robust=robust) == [b"a", b"b"]
    spans = acceptor.wait_for_spans(4)
    consumers = [s for s in spans if s["k"] == 1]
    assert len(consumers) == 2
    for consumer in consumers:
        assert (consumer["n"], consumer["t"], consumer["p"]) == ("rabbitmq", TRACE, PARENT)
        assert consumer["data"]["rabbitmq"]["queue"] == queue
        (reply,) = [s for s in exits(spans) if s["p"] == consumer["s"]]
        assert reply["data"]["rabbitmq"]["key"] == f"{queue}-out"


def test_a_consume_callback_error_marks_the_entry(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    publish(rabbitmq_server, queue, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT})

    class Rejected(Exception):
        pass

    async def work(channel: Any) -> None:
        amqp_queue = await channel.declare_queue(queue)
        called = asyncio.Event()

        async def on_message(message: Any) -> None:
            called.set()
            await message.ack()
            raise Rejected("order 7 is invalid")

        await amqp_queue.consume(on_message)
        await asyncio.wait_for(called.wait(), 10)

    run(rabbitmq_server, work)
    (consumer,) = acceptor.wait_for_spans(1)
    assert (consumer["n"], consumer["k"], consumer["ec"]) == ("rabbitmq", 1, 1)
    assert (consumer["t"], consumer["p"]) == (TRACE, PARENT)
    assert "Rejected: order 7 is invalid" in consumer["data"]["rabbitmq"]["error"]


def test_get_continues_the_trace(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    publish(rabbitmq_server, queue, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT})

    async def work(channel: Any) -> Any:
        amqp_queue = await channel.declare_queue(queue)
        message = await amqp_queue.get(no_ack=True)
        assert await amqp_queue.get(no_ack=True, fail=False) is None  # empty: no span
        return message.body

    assert run(rabbitmq_server, work) == b"order"
    (consumer,) = acceptor.wait_for_spans(1)
    assert (consumer["n"], consumer["k"], consumer["t"], consumer["p"]) == (
        "rabbitmq",
        1,
        TRACE,
        PARENT,
    )
    assert consumer["data"]["rabbitmq"]["queue"] == queue


@pytest.mark.parametrize("key", ["aio_pika", "aio-pika", "messaging"])
def test_disabled_consumers_make_no_entry_and_still_call_back(
    acceptor: Acceptor, traced: Client, rabbitmq_server: RabbitMQ, queue: str, key: str
) -> None:
    configure_for(acceptor, disabled_instrumentations=[key])  # after instrument(): per message
    publish(rabbitmq_server, queue, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT})

    async def work(channel: Any) -> List[bytes]:
        amqp_queue = await channel.declare_queue(queue)
        async with amqp_queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                return [message.body]
        return []

    assert run(rabbitmq_server, work) == [b"order"]
    instana.flush()
    assert acceptor.spans() == []


def test_a_delivered_message_published_on_carries_the_new_context(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    publish(rabbitmq_server, queue, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT, "k": "v"})

    async def work(channel: Any) -> None:
        amqp_queue = await channel.declare_queue(queue)
        await channel.declare_queue(f"{queue}-out")
        delivered = await amqp_queue.get(no_ack=True)  # locked: no_ack
        assert delivered.locked
        await channel.default_exchange.publish(delivered, routing_key=f"{queue}-out")
        assert delivered.headers["X-INSTANA-S"] == PARENT  # the delivered message unchanged

    with instana.entry_span("forwarder"):
        run(rabbitmq_server, work)
    spans = acceptor.wait_for_spans(3)
    (forward,) = exits(spans)
    assert last_headers(rabbitmq_server, f"{queue}-out") == {
        "k": "v",
        "X-INSTANA-T": forward["t"],
        "X-INSTANA-S": forward["s"],
        "X-INSTANA-L": "1",
    }


# aio-pika's own warning when the plain function's result is not awaitable, as without us
@pytest.mark.filterwarnings("ignore:Function .* returned a non awaitable result")
def test_a_plain_function_callback_still_works_inside_its_entry(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    publish(rabbitmq_server, queue, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT})
    handled: List[Any] = []

    async def work(channel: Any) -> None:
        amqp_queue = await channel.declare_queue(queue)
        with pytest.warns(DeprecationWarning):  # aio-pika's warning, not ours
            await amqp_queue.consume(lambda message: handled.append(current_span()), no_ack=True)
        for _ in range(100):
            if handled:
                return
            await asyncio.sleep(0.05)

    run(rabbitmq_server, work)
    (consumer,) = acceptor.wait_for_spans(1)
    assert (consumer["t"], consumer["p"], consumer["ec"]) == (TRACE, PARENT, 0)
    assert handled[0].span_id == consumer["s"]


def test_an_error_leaving_the_iterator_block_marks_that_message_entry(
    traced: Client, acceptor: Acceptor, rabbitmq_server: RabbitMQ, queue: str
) -> None:
    publish(rabbitmq_server, queue, {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT})

    class Rejected(Exception):
        pass

    async def work(channel: Any) -> None:
        amqp_queue = await channel.declare_queue(queue)
        async with amqp_queue.iterator(no_ack=True) as messages:
            async for _message in messages:
                raise Rejected("order 7 is invalid")

    with pytest.raises(Rejected, match="order 7 is invalid"):
        run(rabbitmq_server, work)
    (consumer,) = acceptor.wait_for_spans(1)
    assert (consumer["n"], consumer["k"], consumer["ec"]) == ("rabbitmq", 1, 1)
    assert (consumer["t"], consumer["p"]) == (TRACE, PARENT)
    assert "Rejected: order 7 is invalid" in consumer["data"]["rabbitmq"]["error"]
