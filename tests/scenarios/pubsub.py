"""google-cloud-pubsub's PublisherClient.publish against an in-process gRPC fake of the
Publisher service (PUBSUB_EMULATOR_HOST; no Pub/Sub server exists here)."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import grpc
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

from tests.scenarios import Scenario
from tests.servers import PubSubFake

TOPIC = "projects/demo-project/topics/orders"


def publisher_for(target: PubSubFake) -> pubsub_v1.PublisherClient:
    """A publisher on an insecure channel to the fake: what PUBSUB_EMULATOR_HOST sets up,
    made explicit so a test's monkeypatch.undo() cannot point it at Google."""
    channel = grpc.insecure_channel(target.emulator_host)
    return pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=channel))


def close(publisher: pubsub_v1.PublisherClient) -> None:
    publisher.stop()
    publisher._transport.close()


class Publish(Scenario):
    label = "pubsub-publish"
    fixture = "pubsub_server"
    imports = ("google.cloud.pubsub_v1",)
    span_name = "gcps"
    error_path = ("gcps",)
    # what publish raises for a str body (its own check, before anything is sent)
    error = TypeError

    def call(self, target: PubSubFake) -> Any:
        publisher = publisher_for(target)
        try:
            message_id = publisher.publish(TOPIC, b"order 7", tenant="acme").result(timeout=10)
            return bool(message_id)
        finally:
            close(publisher)

    def failing_call(self, target: PubSubFake) -> Any:
        publisher = publisher_for(target)
        try:
            return publisher.publish(TOPIC, "not bytes")  # type: ignore[arg-type]
        finally:
            close(publisher)

    def sent_context(self, target: PubSubFake) -> Optional[Mapping[str, str]]:
        if not target.messages:
            return {}
        attributes = target.messages[-1].attributes
        return {k: v for k, v in attributes.items() if k.startswith("x-instana-")}


SCENARIOS = [Publish()]
