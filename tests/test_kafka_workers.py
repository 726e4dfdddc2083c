"""Kafka consumers as workers on Cloud Run and Fargate: Lambda functions produce with each client
in each header format; a separate worker process (``tests/kafka_worker.py``) with the platform's
environment (Cloud Run's ``K_*`` and the GCP metadata server emulated on loopback; Fargate's
``AWS_EXECUTION_ENV`` and the ECS task metadata endpoint emulated on loopback) calls
``instana_serverless.instrument()``, consumes with one client and makes an HTTP call per record.
One trace per record: the producer's exit -> the worker's kafka entry (reported as the Cloud
Run instance / the Fargate task's container) -> the worker's HTTP exit, delivered while the
worker keeps running (Cloud Run's send rule, Fargate's background reporter)."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from typing import Any, Dict, List

import pytest

from demo.harness import listening
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.kafka_context import BINARY, BOTH, STRING
from tests.conftest import AGENT_KEY, free_port
from tests.http_service import Downstream
from tests.instr_support import traced
from tests.kafka_support import DRIVERS, Driver, fresh_topic, last_headers
from tests.servers import Kafka
from tests.test_cloudrun_metadata import INSTANCE_ID, MetadataEmulator
from tests.test_fargate_reporter import ENTITY, EcsMetadataEmulator
from tests.test_kafka_e2e import NAMES, configure, produce_in_lambda

__all__ = ["traced"]  # a fixture, used by name as a test argument

FORMATS = [STRING, BINARY, BOTH]
CLOUD_RUN = "cloud-run"
FARGATE = "fargate"
REVISION = "orders-worker-00003-abc"


def platform_env(platform: str, stack: ExitStack) -> Dict[str, str]:
    """The platform's variables, its metadata emulator started on ``stack``."""
    if platform == CLOUD_RUN:
        gcp = stack.enter_context(MetadataEmulator())
        return {
            "K_SERVICE": "orders-worker",
            "K_REVISION": REVISION,
            "K_CONFIGURATION": "orders-worker",
            "INSTANA_GCP_METADATA_HOST": gcp.host,
        }
    ecs = stack.enter_context(EcsMetadataEmulator())
    return {
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        "ECS_CONTAINER_METADATA_URI_V4": ecs.metadata_uri,
    }


def source_of(platform: str) -> Dict[str, Any]:
    if platform == CLOUD_RUN:
        return {"hl": True, "cp": "gcp", "e": INSTANCE_ID}
    return {"hl": True, "cp": "aws", "e": ENTITY}


def worker_env(acceptor: Acceptor, platform: Dict[str, str], port: int) -> Dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INSTANA_", "K_", "AWS_", "ECS_", "GCE_", "GOOGLE_", "FUNCTIONS_"))
    }
    return {
        **inherited,
        "INSTANA_ENDPOINT_URL": acceptor.url,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        "PORT": str(port),
        **platform,
    }


@pytest.mark.parametrize("platform", [CLOUD_RUN, FARGATE])
@pytest.mark.parametrize("consumer", DRIVERS, ids=[d.name for d in DRIVERS])
def test_a_worker_continues_what_lambda_functions_produced(
    traced: Client,
    acceptor: Acceptor,
    kafka_server: Kafka,
    downstream: Downstream,
    consumer: Driver,
    platform: str,
) -> None:
    name = fresh_topic(kafka_server, f"worker-{platform}")
    # Every producer writes one record; the header formats rotate with the consumer, so that
    # over the three consumers of a platform each producer writes in each format.
    shift = DRIVERS.index(consumer)
    exit_spans: List[Dict[str, Any]] = []
    for index, producer in enumerate(DRIVERS):
        header_format = FORMATS[(index + shift) % len(FORMATS)]
        configure(acceptor, {"INSTANA_KAFKA_HEADER_FORMAT": header_format})
        exit_spans.append(produce_in_lambda(acceptor, producer, kafka_server, name))
        assert {key for key, _ in last_headers(kafka_server, name)} == NAMES[header_format]
    assert traced.flush()
    acceptor.clear()

    port = free_port()
    argv = [sys.executable, "-m", "tests.kafka_worker", consumer.name, name]
    argv += [kafka_server.bootstrap, f"{downstream.url}/handled"]
    with ExitStack() as stack:
        env = worker_env(acceptor, platform_env(platform, stack), port)
        with listening(argv, port, env, f"{consumer.name} worker", timeout=30.0) as worker:
            # 3 entries and 3 exits, sent while the worker still runs (nobody asked it to stop)
            spans = acceptor.wait_for_spans(6, timeout=15)
            assert worker.poll() is None

    entries = [s for s in spans if s["k"] == 1]
    exits = [s for s in spans if s["k"] == 2]
    assert len(entries) == 3 and len(exits) == 3 and len(downstream.requests) == 3
    by_parent = {s["p"]: s for s in entries}
    for producer, exit_span in zip(DRIVERS, exit_spans):
        entry = by_parent[exit_span["s"]]  # one per producer, its child
        assert entry["t"] == exit_span["t"], producer.name
        assert entry["n"] == "kafka"
        assert entry["data"]["kafka"] == {"service": name, "access": "consume"}
        assert entry["f"] == source_of(platform), platform
        (work,) = [s for s in exits if s["p"] == entry["s"]]
        assert work["t"] == entry["t"] and work["n"] == "http"
        assert work["data"]["http"]["url"].endswith("/handled")
        assert work["f"] == entry["f"]
    # the HTTP calls carried the records' traces on
    called = {r["headers"].get("x-instana-t") for r in downstream.requests}
    assert called == {s["t"] for s in exit_spans}
