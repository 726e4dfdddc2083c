"""Shared fixtures: a real local acceptor over loopback HTTP, a client configured for it, the
GCP metadata server emulated on loopback, and our logger's records."""

from __future__ import annotations

import logging
from typing import Any, Iterator

import pytest

import instana_serverless as instana
from demo.harness import free_port as free_port  # shared with the demo
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from tests import servers
from tests.http_service import Downstream
from tests.test_cloudrun_metadata import MetadataEmulator

AGENT_KEY = "test-agent-key-7f3a9c"
AWS_REGION = "us-east-1"


@pytest.fixture
def acceptor() -> Iterator[Acceptor]:
    with Acceptor(key=AGENT_KEY) as server:
        yield server


def configure_for(acceptor: Acceptor, **options: Any) -> Client:
    """The global client reporting to ``acceptor``, with ``options`` and no environment."""
    return instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, **options), environ={}
    )


@pytest.fixture
def client(acceptor: Acceptor) -> Iterator[Client]:
    yield configure_for(acceptor, timeout_ms=300)
    instana.configure(environ={})


@pytest.fixture
def emulator() -> Iterator[MetadataEmulator]:
    """The GCP metadata server on loopback, for the Cloud Run tests."""
    with MetadataEmulator() as server:
        yield server


class Collect(logging.Handler):
    """Keeps every record it is handed, at every level."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@pytest.fixture
def all_logs() -> Iterator[list[logging.LogRecord]]:
    """Every record our logger emits, at every level."""
    handler = Collect()
    ours = logging.getLogger("instana_serverless")
    ours.addHandler(handler)
    yield handler.records
    ours.removeHandler(handler)


# Real servers for the exit-span tests (tests/servers.py): each starts once per session, only
# when a test asks for it, and is stopped and removed at the end of the session.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[servers.Postgres]:
    server = servers.start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[servers.Redis]:
    server = servers.start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster_server() -> Iterator[servers.RedisCluster]:
    server = servers.start_redis_cluster()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[servers.MariaDB]:
    server = servers.start_mariadb()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def kafka_server() -> Iterator[servers.Kafka]:
    server = servers.start_kafka()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[servers.RabbitMQ]:
    server = servers.start_rabbitmq()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server_session() -> Iterator[servers.MongoFake]:
    server = servers.start_mongo_fake()
    yield server
    server.stop()


@pytest.fixture
def mongo_server(mongo_server_session: servers.MongoFake) -> servers.MongoFake:
    """The session's MockupDB, emptied of earlier tests' commands and documents."""
    mongo_server_session.reset()
    return mongo_server_session


@pytest.fixture(scope="session")
def pubsub_server_session() -> Iterator[servers.PubSubFake]:
    server = servers.start_pubsub_fake()
    yield server
    server.stop()


@pytest.fixture
def pubsub_server(
    pubsub_server_session: servers.PubSubFake, monkeypatch: pytest.MonkeyPatch
) -> servers.PubSubFake:
    """The session's Pub/Sub fake, emptied, with PUBSUB_EMULATOR_HOST pointing at it."""
    pubsub_server_session.reset()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_server_session.emulator_host)
    return pubsub_server_session


@pytest.fixture(scope="session")
def grpc_orders() -> Iterator[Any]:
    """demo.Orders (demo/grpc_service.py) in a child process of its own: an untraced server."""
    server = servers.start_grpc_orders()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gcs_emulator_session() -> Iterator[Any]:
    server = servers.start_gcs_emulator()
    yield server
    server.stop()


@pytest.fixture
def gcs_emulator(gcs_emulator_session: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The session's GCS emulator, emptied, with STORAGE_EMULATOR_HOST pointing at it."""
    import urllib.request

    request = urllib.request.Request(f"{gcs_emulator_session.url}/wipe", method="GET")
    with urllib.request.urlopen(request, timeout=5):
        pass
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator_session.url)
    return gcs_emulator_session


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long the real servers took to start and stop (printed only when one ran)."""
    if servers.TIMINGS:
        parts = [
            f"{name} start {t.get('start', 0):.2f} s stop {t.get('stop', 0):.2f} s"
            for name, t in servers.TIMINGS.items()
        ]
        total = sum(sum(t.values()) for t in servers.TIMINGS.values())
        terminalreporter.write_line(f"real servers: {'; '.join(parts)}; total {total:.2f} s")


@pytest.fixture
def downstream() -> Iterator[Downstream]:
    """A loopback HTTP service recording each request, answering as its ``script`` says."""
    with Downstream() as service:
        yield service


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on loopback; requests reach it over real HTTP through botocore/urllib3."""
    import json
    import urllib.request

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SECURITY_TOKEN": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }.items():
            env.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        # Lambda invoke without Docker: moto answers with the request payload.
        request = urllib.request.Request(
            f"{url}/moto-api/config",
            data=json.dumps({"lambda": {"use_docker": False}}).encode(),
            method="POST",
        )
        urllib.request.urlopen(request, timeout=5).read()
        yield url
        server.stop()


@pytest.fixture
def no_target() -> None:
    """For scenarios that bring their own target (the in-process web apps)."""
    return None


def span_name(span: Any) -> str:
    """The name a test gave a span: ``data.sdk.name`` for the SDK form (``entry_span("job")``,
    ``span("step")``), else ``n``."""
    if span.get("n") == "sdk":
        return str(span.get("data", {}).get("sdk", {}).get("name"))
    return str(span["n"])
