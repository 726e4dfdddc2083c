"""Rows of bench/outbound.py for pika and aio-pika against a throwaway RabbitMQ node
(demo/servers.py): publishing (an exit) and consuming (an entry per delivered message).

Each publish goes to the default exchange on a connection made once, as a warm function keeps
it; the tight loop gives the patched ``basic_publish`` / ``Exchange.publish`` its real channel
or exchange, the message and the routing key. The consumer rows deliver a message published in
the same call to a ``basic_consume`` / ``Queue.consume`` callback; their tight loop runs the
traced callback itself (open the entry from the message's headers, run, end it).

A missing server leaves the rows out (with a note), as the demo does.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from typing import Any, Callable, List

from bench._support import median_us
from demo import servers

QUEUE = "bench"


def rows(
    row: Callable[..., Any], in_entry: Callable[[Callable[[], object]], Callable[[], None]],
    rounds: int, stack: contextlib.ExitStack,
) -> List[Any]:  # fmt: skip
    """``row(label, call, work, rounds, imports=..., steps=...)`` (bench/outbound.py's Row)."""
    try:
        server = servers.start_rabbitmq()
    except servers.ServerMissing as missing:
        print(f"RabbitMQ rows left out: {missing}")
        return []
    stack.callback(server.stop)
    from instana_serverless.instrumentation import instrument

    # consumers registered while patched keep their traced callback, which goes quiet (one
    # dict lookup) while uninstrumented: the same consumer serves both columns
    instrument()
    return _pika_rows(row, in_entry, rounds, stack, server) + _aio_pika_rows(
        row, in_entry, rounds, stack, server
    )


def _pika_rows(
    row: Callable[..., Any], in_entry: Callable[[Callable[[], object]], Callable[[], None]],
    rounds: int, stack: contextlib.ExitStack, server: servers.RabbitMQ,
) -> List[Any]:  # fmt: skip
    import pika

    from instana_serverless.instrumentation import _entry
    from instana_serverless.instrumentation import pika as pika_instr
    from instana_serverless.instrumentation.registry import BY_NAME

    connection = pika.BlockingConnection(pika.ConnectionParameters(server.host, server.port))
    stack.callback(connection.close)
    channel = connection.channel()
    channel.queue_declare(QUEUE)
    channel.queue_declare(f"{QUEUE}-consumed")
    properties = pika.BasicProperties(headers={"tenant": "acme"}, content_type="text/plain")
    received: List[bytes] = []

    def on_message(ch: Any, method: Any, props: Any, body: bytes) -> None:
        received.append(body)

    consumer_channel = connection.channel()
    consumer_channel.basic_consume(f"{QUEUE}-consumed", on_message, auto_ack=True)

    def publish() -> None:
        channel.basic_publish("", QUEUE, b"order", properties)

    def round_trip() -> None:
        count = len(received)
        channel.basic_publish("", f"{QUEUE}-consumed", b"order", properties)
        while len(received) == count:
            connection.process_data_events(time_limit=0.01)

    def purge() -> None:
        channel.queue_purge(QUEUE)

    stack.callback(purge)
    delivered = pika.spec.Basic.Deliver(exchange="", routing_key=QUEUE)
    incoming = pika.BasicProperties(
        headers={"tenant": "acme", "X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "00000042"}
    )

    def callback_work(rounds: int) -> float:
        traced = pika_instr._traced_callback(
            BY_NAME["pika"], lambda *args: None, QUEUE, server.address
        )
        return statistics.median(
            median_us(lambda: traced(channel, delivered, incoming, b"order"), 1, inner=200)
            for _ in range(rounds)
        )

    return [
        row(
            "pika basic_publish (rabbitmq-server)",
            in_entry(publish),
            (
                "pika",
                "pika.adapters.blocking_connection",
                0,
                lambda: (channel, "", QUEUE, b"order", properties),
                None,
            ),
            rounds,
            imports=("pika",),
        ),
        row(
            "pika publish + basic_consume callback",
            in_entry(round_trip),
            callback_work,
            max(rounds // 2, 5),
            steps=(_entry, "begin_entry", "end_entry"),
        ),
    ]


def _aio_pika_rows(
    row: Callable[..., Any], in_entry: Callable[[Callable[[], object]], Callable[[], None]],
    rounds: int, stack: contextlib.ExitStack, server: servers.RabbitMQ,
) -> List[Any]:  # fmt: skip
    import aio_pika

    from instana_serverless.client import get_client
    from instana_serverless.instrumentation import _entry
    from instana_serverless.instrumentation import aio_pika as aio_pika_instr
    from instana_serverless.instrumentation.registry import BY_NAME

    loop = asyncio.new_event_loop()
    stack.callback(loop.close)

    async def connect() -> Any:
        connection = await aio_pika.connect(server.url)
        return connection, await connection.channel()

    connection, channel = loop.run_until_complete(connect())
    stack.callback(lambda: loop.run_until_complete(connection.close()))
    exchange = channel.default_exchange
    message = aio_pika.Message(b"order", headers={"tenant": "acme"})
    consumed = loop.run_until_complete(channel.declare_queue(f"{QUEUE}-aio-consumed"))
    arrived: List[asyncio.Future[None]] = []

    async def on_message(incoming: Any) -> None:
        if arrived and not arrived[-1].done():
            arrived[-1].set_result(None)

    async def round_trip_async() -> None:
        arrived.append(loop.create_future())
        await exchange.publish(message, routing_key=consumed.name)
        await arrived[-1]

    client = get_client()

    def round_trip() -> None:
        # aio-pika runs each callback in a task of its own, outside the bench's entry: the
        # consumer's entry would be sent when it ends. The bench never sends (the reporter is
        # bench/core.py's subject): its spans are drained like the others'.
        client.flush = drained  # type: ignore[method-assign]
        try:
            loop.run_until_complete(round_trip_async())
        finally:
            del client.flush

    def drained() -> bool:
        client.buffer.drain()
        return True

    loop.run_until_complete(consumed.consume(on_message, no_ack=True))

    async def nothing(incoming: Any) -> None:
        return None

    def callback_work(rounds: int) -> float:
        # a delivered message, as the consumer gets it
        loop.run_until_complete(
            exchange.publish(
                aio_pika.Message(
                    b"order", headers={"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "42"}
                ),
                routing_key=QUEUE,
            )
        )
        queue = loop.run_until_complete(channel.declare_queue(QUEUE))
        incoming = loop.run_until_complete(queue.get(no_ack=True, timeout=5))
        traced = aio_pika_instr._traced_callback(
            BY_NAME["aio_pika"], nothing, QUEUE, server.address
        )

        def once() -> None:
            coroutine = traced(incoming)
            with contextlib.suppress(StopIteration):
                coroutine.send(None)  # nothing suspends: one step runs it to the end

        return statistics.median(median_us(once, 1, inner=200) for _ in range(rounds))

    return [
        row(
            "aio-pika Exchange.publish (rabbitmq-server)",
            in_entry(lambda: loop.run_until_complete(exchange.publish(message, QUEUE))),
            ("aio_pika", "aio_pika.exchange", 0, lambda: (exchange, message, QUEUE), None),
            rounds,
            imports=("aio_pika",),
        ),
        row(
            "aio-pika publish + Queue.consume callback",
            in_entry(round_trip),
            callback_work,
            max(rounds // 2, 5),
            steps=(_entry, "begin_entry", "end_entry"),
        ),
    ]
