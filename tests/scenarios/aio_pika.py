"""aio-pika's Exchange.publish against a real RabbitMQ node on loopback."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Mapping, Optional

import aio_pika
import aiormq.exceptions

from tests.scenarios import Scenario
from tests.scenarios.pika import instana_headers
from tests.servers import RabbitMQ

QUEUE = "contract-aio-pika"


class Publish(Scenario):
    label = "aio-pika"
    fixture = "rabbitmq_server"
    imports = ("aio_pika",)
    span_name = "rabbitmq"
    error_path = ("rabbitmq",)
    # publishing to an exchange that does not exist: the broker closes the channel (404)
    error = aiormq.exceptions.ChannelNotFoundEntity

    def call(self, target: RabbitMQ) -> Any:
        async def run() -> Any:
            async with await aio_pika.connect(target.url) as connection:
                channel = await connection.channel()
                await channel.declare_queue(QUEUE)
                message = aio_pika.Message(b"order 7", headers={"tenant": "acme"})
                confirmed = await channel.default_exchange.publish(message, routing_key=QUEUE)
                return type(confirmed).__name__  # Ack: comparable between calls

        return asyncio.run(run())

    def failing_call(self, target: RabbitMQ) -> Any:
        async def run() -> Any:
            async with await aio_pika.connect(target.url) as connection:
                channel = await connection.channel()
                exchange = await channel.get_exchange("no-such-exchange", ensure=False)
                return await exchange.publish(aio_pika.Message(b"order 7"), routing_key=QUEUE)

        return asyncio.run(run())

    def sent_context(self, target: RabbitMQ) -> Optional[Mapping[str, str]]:
        return instana_headers(target, QUEUE)

    consumer = True

    def consume(
        self, target: RabbitMQ, context: Mapping[str, str], handle: Callable[[], Any]
    ) -> None:
        """A ``Queue.consume`` callback; aio-pika runs it in a task of its own, so an
        exception of the callback stays with aio-pika (logged), never raised here."""
        queue = f"{QUEUE}-consumed"

        async def run() -> None:
            async with await aio_pika.connect(target.url) as connection:
                channel = await connection.channel()
                amqp_queue = await channel.declare_queue(queue)
                await amqp_queue.purge()
                headers = {name.upper(): value for name, value in context.items()}
                message = aio_pika.Message(b"order 7", headers=headers)
                await channel.default_exchange.publish(message, routing_key=queue)
                handled = asyncio.Event()

                async def on_message(message: Any) -> None:
                    try:
                        handle()
                    finally:
                        handled.set()

                await amqp_queue.consume(on_message, no_ack=True)
                await asyncio.wait_for(handled.wait(), 10)

        asyncio.run(run())


SCENARIOS = [Publish()]
