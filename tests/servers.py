"""Throwaway real servers for the exit-span tests: PostgreSQL, Redis (single and a 3-master
cluster), MariaDB, Kafka (Tansu) and RabbitMQ from demo/servers.py (the one copy, shared with
the demo); MockupDB for pymongo's wire protocol and a gRPC Pub/Sub Publisher fake (in a child
process), where no real server is at hand; demo.Orders on grpcio's own server and a GCS
emulator from PyPI.

The session fixtures in conftest.py start each one at most once per test session, only when a
test asks for it. A missing server binary skips the test with the reason, or fails it when
``CI=true`` (CI must never pass by skipping).
"""

from __future__ import annotations

import os
import threading
import time
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
    RabbitMQ,
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
    "RabbitMQ",
    "Redis",
    "RedisCluster",
    "_wait",
    "free_port",
    "missing",
    "redis_command",
    "start_grpc_orders",
    "start_kafka",
    "start_mariadb",
    "start_mongo_fake",
    "start_postgres",
    "start_pubsub_fake",
    "start_rabbitmq",
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
start_rabbitmq = _or_missing(_servers.start_rabbitmq)


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
    """A gRPC server implementing google.pubsub.v1.Publisher's Publish (what
    PublisherClient.publish calls), GetTopic and CreateTopic, with the library's own proto
    types, in a child process of its own (``python -m tests.pubsub_fake``): a server in this
    process would be traced by our gRPC instrumentation and add ``rpc-server`` entries to the
    tests' traces. Each published message is written there as a JSON line and read back here
    as ``messages``. Clients reach it with ``PUBSUB_EMULATOR_HOST=<emulator_host>`` (the
    variable the Pub/Sub emulator uses)."""

    SERVICE = "google.pubsub.v1.Publisher"

    def __init__(self) -> None:
        import sys
        import tempfile
        from pathlib import Path

        import grpc

        self._dir = Path(tempfile.mkdtemp(prefix="pubsub-fake-"))
        _servers._dirs.append(self._dir)
        self._record = self._dir / "messages.jsonl"
        self._record.touch()
        self.host = HOST
        self.port = free_port()
        self._process = Process(
            "pubsub-fake",
            [sys.executable, "-m", "tests.pubsub_fake", str(self.port), str(self._record)],
            self._dir / "pubsub-fake.log",
        )

        def ready() -> bool:
            with grpc.insecure_channel(self.emulator_host) as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=0.5)
                except grpc.FutureTimeoutError:
                    return False
                return True

        _wait("pubsub-fake", ready, [self._process], START_TIMEOUT_S)

    @property
    def emulator_host(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def messages(self) -> List[PublishedMessage]:
        import base64
        import json

        found = []
        for line in self._record.read_text().splitlines():
            item = json.loads(line)
            item["data"] = base64.b64decode(item["data"])
            found.append(PublishedMessage(**item))
        return found

    def reset(self) -> None:
        self._record.write_text("")

    def stop(self) -> None:
        started = time.monotonic()
        self._process.stop()
        _timed("pubsub", "stop", started)


def start_pubsub_fake() -> PubSubFake:
    started = time.monotonic()
    fake = PubSubFake()
    _timed("pubsub", "start", started)
    return fake


# --------------------------------------------------------------------------- gRPC (grpcio)


def start_grpc_orders() -> Any:
    """demo.Orders on grpcio's own server, in a child process (demo/grpc_service.py)."""
    import tempfile
    from pathlib import Path

    from demo.grpc_service import start_process

    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="grpc-orders-"))
    _servers._dirs.append(log_dir)
    server = start_process(log_dir)
    _timed("grpc", "start", started)
    return server


# --------------------------------------------------------------------------- Cloud Storage


class GcsEmulator:
    """gcp-storage-emulator (PyPI), in memory, on a free loopback port; clients reach it with
    ``STORAGE_EMULATOR_HOST=<url>``."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.host = HOST
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        started = time.monotonic()
        self.process.stop()
        _timed("gcs", "stop", started)


def start_gcs_emulator() -> GcsEmulator:
    import importlib.util
    import sys
    import tempfile
    import urllib.request
    from pathlib import Path

    if importlib.util.find_spec("gcp_storage_emulator") is None:
        missing("gcp-storage-emulator is not installed (pip install gcp-storage-emulator)")
    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix="gcs-emulator-"))
    _servers._dirs.append(log_dir)
    port = free_port()
    argv = [sys.executable, "-m", "gcp_storage_emulator", "start"]
    process = Process(
        "gcs-emulator",
        [*argv, "--host", HOST, "--port", str(port), "--in-memory", "--quiet"],
        log_dir / "gcs-emulator.log",
    )

    def ready() -> bool:
        with urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=1) as response:
            return bool(response.status == 200)

    _wait("gcs-emulator", ready, [process], START_TIMEOUT_S)
    _timed("gcs", "start", started)
    return GcsEmulator(process, port)
