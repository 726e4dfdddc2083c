"""The Pub/Sub Publisher fake's server process (tests/servers.py ``PubSubFake``):
``python -m tests.pubsub_fake PORT RECORD`` serves Publish, GetTopic and CreateTopic on
127.0.0.1:PORT with google-cloud-pubsub's own proto types and appends each published message
to the file RECORD as one JSON line; message ids count the file's lines (1 after a reset, as
the earlier in-process fake counted)."""

from __future__ import annotations

import base64
import json
import sys
import threading
from concurrent import futures
from typing import Any, Dict

import grpc
from google.pubsub_v1 import types

SERVICE = "google.pubsub.v1.Publisher"


class Publisher:
    def __init__(self, record: str) -> None:
        self.record = record
        self.topics: Dict[str, Any] = {}
        self.lock = threading.Lock()

    def publish(self, request: Any, context: Any) -> Any:
        ids = []
        with self.lock, open(self.record, "a+") as out:
            out.seek(0)
            kept = len(out.read().splitlines())  # since the last reset (which empties it)
            for message in request.messages:
                kept += 1
                message_id = str(kept)
                item = {
                    "topic": request.topic,
                    "data": base64.b64encode(bytes(message.data)).decode(),
                    "attributes": dict(message.attributes),
                    "ordering_key": message.ordering_key,
                    "message_id": message_id,
                }
                out.write(json.dumps(item) + "\n")
                ids.append(message_id)
        return types.PublishResponse(message_ids=ids)

    def get_topic(self, request: Any, context: Any) -> Any:
        return self.topics.get(request.topic) or types.Topic(name=request.topic)

    def create_topic(self, request: Any, context: Any) -> Any:
        with self.lock:
            self.topics[request.name] = request
        return request


def main(port: int, record: str) -> None:
    publisher = Publisher(record)
    handlers = {
        "Publish": grpc.unary_unary_rpc_method_handler(
            publisher.publish,
            request_deserializer=types.PublishRequest.deserialize,
            response_serializer=types.PublishResponse.serialize,
        ),
        "GetTopic": grpc.unary_unary_rpc_method_handler(
            publisher.get_topic,
            request_deserializer=types.GetTopicRequest.deserialize,
            response_serializer=types.Topic.serialize,
        ),
        "CreateTopic": grpc.unary_unary_rpc_method_handler(
            publisher.create_topic,
            request_deserializer=types.Topic.deserialize,
            response_serializer=types.Topic.serialize,
        ),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
