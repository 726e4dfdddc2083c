"""Throwaway real servers for the exit-span tests: PostgreSQL, Redis (single and a 3-master
cluster), MariaDB and Kafka (Tansu) from demo/servers.py (the one copy, shared with the demo);
MockupDB for pymongo's wire protocol and an in-process gRPC Pub/Sub Publisher fake, where no
real server is at hand.

The session fixtures in conftest.py start each one at most once per test session, only when a
test asks for it. A missing server binary skips the test with the reason, or fails it when
``CI=true`` (CI must never pass by skipping).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Tuple, TypeVar

import pytest

from demo import servers as _servers
from demo.servers import (
    DBNAME,
    HOST,
    PASSWORD,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    TIMINGS,
    USER,
    Kafka,
    MariaDB,
    Postgres,
    Process,
    Redis,
    RedisCluster,
    ServerMissing,
    _timed,
    _wait,
    free_port,
    redis_command,
)

__all__ = [
    "DBNAME",
    "HOST",
    "PASSWORD",
    "START_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "TIMINGS",
    "USER",
    "Kafka",
    "MariaDB",
    "MongoFake",
    "Postgres",
    "Process",
    "PubSubFake",
    "PublishedMessage",
    "Redis",
    "RedisCluster",
    "_wait",
    "free_port",
    "missing",
    "redis_command",
    "start_kafka",
    "start_mariadb",
    "start_mongo_fake",
    "start_postgres",
    "start_pubsub_fake",
    "start_redis",
    "start_redis_cluster",
]

T = TypeVar("T")


def missing(reason: str) -> None:
    """Skip the test, or fail it under CI=true where every real server must be present."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a missing server is a failure)", pytrace=False)
    pytest.skip(reason)


def _or_missing(start: Callable[..., T]) -> Callable[..., T]:
    def started(*args: Any, **kwargs: Any) -> T:
        try:
            return start(*args, **kwargs)
        except ServerMissing as error:
            missing(str(error))
            raise AssertionError("unreachable") from error

    started.__name__ = start.__name__
    started.__doc__ = start.__doc__
    return started


start_postgres = _or_missing(_servers.start_postgres)
start_redis = _or_missing(_servers.start_redis)
start_redis_cluster = _or_missing(_servers.start_redis_cluster)
start_mariadb = _or_missing(_servers.start_mariadb)
start_kafka = _or_missing(_servers.start_kafka)


# --------------------------------------------------------------------------- MongoDB (mockupdb)


class MongoFake:
    """MockupDB, MongoDB's wire-protocol test server, answering what pymongo sends for
    ordinary calls: the handshake (hello/isMaster), ping, buildInfo, endSessions, insert,
    find (what was inserted, filtered on top-level equality), aggregate, update, delete, count,
    getMore/killCursors. Every command except the handshake is kept in ``commands`` as
    ``(name, document)``; ``collections`` maps ``db.collection`` to inserted documents.
    A test may add its own answers with ``server.autoresponds(...)`` (most recent first)."""

    # MongoDB 7.0; pymongo refuses servers older than its minimum wire version.
    WIRE_VERSION = 21
    HANDSHAKE = ("hello", "ismaster")

    def __init__(self) -> None:
        from mockupdb import MockupDB

        self.server = MockupDB(port=0)
        self.commands: List[Tuple[str, Dict[str, Any]]] = []
        self.collections: Dict[str, List[Dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.server.autoresponds(self._answer)
        self.port = int(self.server.run())
        self.host = HOST

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def reset(self) -> None:
        with self._lock:
            self.commands.clear()
            self.collections.clear()

    def command_names(self) -> List[str]:
        with self._lock:
            return [name for name, _ in self.commands]

    def _answer(self, request: Any) -> bool:
        doc = dict(request.doc)
        if not doc:
            return False
        name = next(iter(doc))
        lowered = name.lower()
        if lowered in self.HANDSHAKE:
            return bool(
                request.ok(
                    isWritablePrimary=True,
                    ismaster=True,
                    helloOk=True,
                    minWireVersion=0,
                    maxWireVersion=self.WIRE_VERSION,
                    maxBsonObjectSize=16 * 1024 * 1024,
                    maxMessageSizeBytes=48000000,
                    maxWriteBatchSize=100000,
                    localTime=None,
                    connectionId=1,
                )
            )
        db = doc.get("$db", "test")
        with self._lock:
            self.commands.append((name, doc))
            if lowered == "insert":
                ns = f"{db}.{doc['insert']}"
                documents = list(request.docs[1:]) if len(request.docs) > 1 else []
                documents += list(doc.get("documents", []))
                self.collections.setdefault(ns, []).extend(dict(d) for d in documents)
                return bool(request.ok(n=len(documents)))
            if lowered in ("find", "aggregate"):
                ns = f"{db}.{doc[name]}"
                wanted = doc.get("filter") or {}
                batch = [d for d in self.collections.get(ns, []) if _matches(d, wanted)]
                return bool(request.ok(cursor={"id": 0, "ns": ns, "firstBatch": batch}))
            if lowered in ("update", "delete"):
                return bool(request.ok(n=0, nModified=0))
            if lowered == "count":
                ns = f"{db}.{doc[name]}"
                return bool(request.ok(n=len(self.collections.get(ns, []))))
            if lowered == "getmore":
                ns = f"{db}.{doc.get('collection', '')}"
                return bool(request.ok(cursor={"id": 0, "ns": ns, "nextBatch": []}))
            if lowered == "buildinfo":
                return bool(request.ok(version="7.0.0", versionArray=[7, 0, 0, 0]))
        # ping, endSessions, killCursors, drop, createIndexes and anything else: ok
        return bool(request.ok())

    def stop(self) -> None:
        started = time.monotonic()
        self.server.stop()
        _timed("mockupdb", "stop", started)


def _matches(document: Dict[str, Any], wanted: Dict[str, Any]) -> bool:
    """Top-level equality; operators and sub-documents are not evaluated (they match)."""
    return all(
        key.startswith("$") or isinstance(value, dict) or document.get(key) == value
        for key, value in wanted.items()
    )


def start_mongo_fake() -> MongoFake:
    started = time.monotonic()
    fake = MongoFake()
    _timed("mockupdb", "start", started)
    return fake


# --------------------------------------------------------------------------- Pub/Sub (gRPC)


@dataclass
class PublishedMessage:
    topic: str
    data: bytes
    attributes: Dict[str, str]
    ordering_key: str
    message_id: str


class PubSubFake:
    """An in-process gRPC server implementing google.pubsub.v1.Publisher's Publish (what
    PublisherClient.publish calls), GetTopic and CreateTopic, with the library's own proto
    types; each published message is kept in ``messages``. Clients reach it with
    ``PUBSUB_EMULATOR_HOST=<emulator_host>`` (the variable the Pub/Sub emulator uses)."""

    SERVICE = "google.pubsub.v1.Publisher"

    def __init__(self) -> None:
        import grpc
        from google.pubsub_v1 import types

        self.messages: List[PublishedMessage] = []
        self.topics: Dict[str, Any] = {}
        self._lock = threading.Lock()
        self._types = types
        handlers = {
            "Publish": grpc.unary_unary_rpc_method_handler(
                self._publish,
                request_deserializer=types.PublishRequest.deserialize,
                response_serializer=types.PublishResponse.serialize,
            ),
            "GetTopic": grpc.unary_unary_rpc_method_handler(
                self._get_topic,
                request_deserializer=types.GetTopicRequest.deserialize,
                response_serializer=types.Topic.serialize,
            ),
            "CreateTopic": grpc.unary_unary_rpc_method_handler(
                self._create_topic,
                request_deserializer=types.Topic.deserialize,
                response_serializer=types.Topic.serialize,
            ),
        }
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(self.SERVICE, handlers),)
        )
        self.host = HOST
        self.port = self._server.add_insecure_port(f"{HOST}:0")
        self._server.start()

    @property
    def emulator_host(self) -> str:
        return f"{self.host}:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.topics.clear()

    def _publish(self, request: Any, context: Any) -> Any:
        ids = []
        with self._lock:
            for message in request.messages:
                message_id = str(len(self.messages) + 1)
                self.messages.append(
                    PublishedMessage(
                        topic=request.topic,
                        data=bytes(message.data),
                        attributes=dict(message.attributes),
                        ordering_key=message.ordering_key,
                        message_id=message_id,
                    )
                )
                ids.append(message_id)
        return self._types.PublishResponse(message_ids=ids)

    def _get_topic(self, request: Any, context: Any) -> Any:
        return self.topics.get(request.topic) or self._types.Topic(name=request.topic)

    def _create_topic(self, request: Any, context: Any) -> Any:
        with self._lock:
            self.topics[request.name] = request
        return request

    def stop(self) -> None:
        started = time.monotonic()
        self._server.stop(grace=None).wait(STOP_TIMEOUT_S)
        _timed("pubsub", "stop", started)


def start_pubsub_fake() -> PubSubFake:
    started = time.monotonic()
    fake = PubSubFake()
    _timed("pubsub", "start", started)
    return fake
