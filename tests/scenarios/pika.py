"""pika's BlockingChannel.basic_publish against a real RabbitMQ node on loopback."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from tests.scenarios import Scenario
from tests.servers import RabbitMQ

QUEUE = "contract-pika"


def connect(target: RabbitMQ) -> pika.BlockingConnection:
    return pika.BlockingConnection(pika.ConnectionParameters(host=target.host, port=target.port))


def last_headers(target: RabbitMQ, queue: str) -> Optional[Dict[str, Any]]:
    """Empties ``queue``; the headers of the last message in it (None: it was empty). Reads
    with pika's own basic_get, past our wrapper, so that looking makes no span."""
    get = getattr(BlockingChannel.basic_get, "__wrapped__", BlockingChannel.basic_get)
    connection = connect(target)
    try:
        channel = connection.channel()
        channel.queue_declare(queue)
        headers: Optional[Dict[str, Any]] = None
        while True:
            method, properties, _body = get(channel, queue, auto_ack=True)
            if method is None:
                return headers
            headers = dict(properties.headers or {})
    finally:
        connection.close()


def instana_headers(target: RabbitMQ, queue: str) -> Dict[str, str]:
    """The ``X-INSTANA-*`` headers of the last message in ``queue``, names lower-cased."""
    headers = last_headers(target, queue) or {}
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-instana-")}


class Publish(Scenario):
    label = "pika-blocking"
    fixture = "rabbitmq_server"
    imports = ("pika",)
    span_name = "rabbitmq"
    error_path = ("rabbitmq",)
    # publishing on a closed channel (a broker's 404 would also make pika log a warning,
    # which is a `log` span of its own)
    error = pika.exceptions.ChannelWrongStateError

    def call(self, target: RabbitMQ) -> Any:
        connection = connect(target)
        try:
            channel = connection.channel()
            channel.queue_declare(QUEUE)
            properties = pika.BasicProperties(headers={"tenant": "acme"})
            return channel.basic_publish("", QUEUE, b"order 7", properties)
        finally:
            connection.close()

    def failing_call(self, target: RabbitMQ) -> Any:
        connection = connect(target)
        try:
            channel = connection.channel()
            channel.close()
            return channel.basic_publish("", QUEUE, b"order 7")
        finally:
            connection.close()

    def sent_context(self, target: RabbitMQ) -> Optional[Mapping[str, str]]:
        return instana_headers(target, QUEUE)

    consumer = True

    def consume(
        self, target: RabbitMQ, context: Mapping[str, str], handle: Callable[[], Any]
    ) -> None:
        """A ``BlockingChannel.basic_consume`` callback; pika raises the callback's exception
        from ``process_data_events``."""
        queue = f"{QUEUE}-consumed"
        connection = connect(target)
        try:
            channel = connection.channel()
            channel.queue_declare(queue)
            channel.queue_purge(queue)
            headers = {name.upper(): value for name, value in context.items()}
            channel.basic_publish("", queue, b"order 7", pika.BasicProperties(headers=headers))
            handled: List[bool] = []

            def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
                handled.append(True)
                handle()

            channel.basic_consume(queue, on_message, auto_ack=True)
            for _ in range(100):
                if handled:
                    return
                connection.process_data_events(time_limit=0.1)
            raise AssertionError("no message consumed")
        finally:
            connection.close()


SCENARIOS = [Publish()]
