"""Fargate: the ECS task metadata endpoint emulated on loopback with the documented sample
documents in ``tests/ecs_metadata/`` (from the AWS "Task metadata endpoint v4 for Fargate"
examples), the background reporter, and the local acceptor."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import flask
import pytest
from werkzeug.test import Client as WerkzeugClient

import instana_serverless as instana
from demo.loopback import LoopbackServer, Reply, Request, json_reply
from instana_serverless import sending
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.fargate import reporter as fargate_reporter
from instana_serverless.fargate.reporter import FargateReporter
from instana_serverless.instrumentation import uninstrument
from instana_serverless.middleware import WSGIMiddleware
from tests.conftest import AGENT_KEY, span_name

FIXTURES = Path(__file__).resolve().parent / "ecs_metadata"
TASK_ARN = "arn:aws:ecs:us-west-2:123456789012:task/default/cd189a933e5849daa93386466019ab50"
ENTITY = f"{TASK_ARN}::web"
DOCKER_ID = "cd189a933e5849daa93386466019ab50-2495160603"


def load(name: str) -> Dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


class EcsMetadataEmulator(LoopbackServer):
    """``$ECS_CONTAINER_METADATA_URI_V4`` on 127.0.0.1: ``/``, ``/task``, ``/stats``.

    Every ``/stats`` read advances the CPU and network counters, as a running container does.
    ``down = True`` answers 500 to everything.
    """

    def __init__(self) -> None:
        self.container = load("container")
        self.task = load("task")
        self.stats = load("stats")
        self.down = False
        self.paths: List[str] = []
        super().__init__(self._respond)
        self.metadata_uri = f"{self.url}/v4/{DOCKER_ID}"

    def _respond(self, request: Request) -> Reply:
        self.paths.append(request.path)
        return json_reply(*self.answer(request.path))

    def answer(self, path: str) -> tuple[int, Any]:
        if self.down:
            return 500, {"error": "unavailable"}
        base = f"/v4/{DOCKER_ID}"
        if path == base:
            return 200, self.container
        if path == base + "/task":
            return 200, self.task
        if path == base + "/stats":
            stats = copy.deepcopy(self.stats)
            self.stats["precpu_stats"] = copy.deepcopy(self.stats["cpu_stats"])
            cpu = self.stats["cpu_stats"]
            cpu["cpu_usage"]["total_usage"] += 5_000_000
            cpu["system_cpu_usage"] += 1_000_000_000
            self.stats["networks"]["eth1"]["rx_bytes"] += 1000
            return 200, stats
        return 404, {"error": "not found"}


@pytest.fixture
def ecs() -> Iterator[EcsMetadataEmulator]:
    with EcsMetadataEmulator() as server:
        yield server


def fargate_env(ecs: EcsMetadataEmulator) -> Dict[str, str]:
    return {
        "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
        "ECS_CONTAINER_METADATA_URI_V4": ecs.metadata_uri,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        "DATABASE_PASSWORD": "hunter2",
        "CONFIG_URL": f"https://user:{AGENT_KEY}@config.example",
        "LOG_LEVEL": "info",
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_span(name: str = "job") -> None:
    with instana.entry_span(name, flush=False):
        pass


def plugins_by_name(bundle: Dict[str, Any]) -> Dict[str, List[Dict[str, Any]]]:
    found: Dict[str, List[Dict[str, Any]]] = {}
    for plugin in bundle["metrics"]["plugins"]:
        found.setdefault(plugin["name"], []).append(plugin)
    return found


def test_first_tick_sends_spans_and_full_snapshot(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    instana.configure(
        instana.Options(
            endpoint_url=acceptor.url, agent_key=AGENT_KEY, zone="eu-shop", tags={"team": "orders"}
        ),
        environ={},
    )
    reporter = FargateReporter(fargate_env(ecs))
    make_span()
    assert reporter.tick() is True
    [span] = acceptor.wait_for_spans(1)
    assert span["f"] == {"hl": True, "cp": "aws", "e": ENTITY}
    assert acceptor.requests[-1]["headers"]["x-instana-host"] == ENTITY

    plugins = plugins_by_name(acceptor.bundles[-1])
    [task] = plugins["com.instana.plugin.aws.ecs.task"]
    assert task["entityId"] == TASK_ARN
    assert task["data"]["clusterArn"] == "arn:aws:ecs:us-west-2:123456789012:cluster/default"
    assert task["data"]["taskDefinition"] == "web-service"
    assert task["data"]["taskDefinitionVersion"] == "7"
    assert task["data"]["availabilityZone"] == "us-west-2d"
    assert task["data"]["limits"] == {"cpu": 0.25, "memory": 512}
    assert task["data"]["instanaZone"] == "eu-shop" and task["data"]["tags"] == {"team": "orders"}

    containers = {c["entityId"]: c for c in plugins["com.instana.plugin.aws.ecs.container"]}
    assert set(containers) == {ENTITY, f"{TASK_ARN}::log-router"}
    own = containers[ENTITY]["data"]
    assert own["instrumented"] is True and own["runtime"] == "python"
    assert own["dockerId"] == DOCKER_ID and own["image"].endswith("/web:latest")
    assert "instrumented" not in containers[f"{TASK_ARN}::log-router"]["data"]

    [docker] = plugins["com.instana.plugin.docker"]
    assert docker["entityId"] == ENTITY
    data = docker["data"]
    assert data["Id"] == DOCKER_ID and data["NetworkMode"] == "awsvpc"
    # (1137691504 - 1136624601) / (9393210000000 - 9373330000000) * 2 online CPUs
    assert data["cpu"]["total_usage"] == pytest.approx(0.000107, abs=1e-6)
    assert data["cpu"]["throttling_count"] == 0
    assert data["memory"]["usage"] == 6504448 and data["memory"]["total_rss"] == 4603904
    assert data["network"]["rx"] == {"bytes": 564, "packets": 6, "errors": 0, "dropped": 0}
    assert data["network"]["tx"]["bytes"] == 4380
    assert data["blkio"] == {"blk_read": 12288, "blk_write": 409600}

    [process] = plugins["com.instana.plugin.process"]
    env = process["data"]["env"]
    assert env["DATABASE_PASSWORD"] == "<redacted>"
    assert env["INSTANA_AGENT_KEY"] == "<redacted>"
    assert env["CONFIG_URL"] == "<redacted>", "a value containing the agent key is masked"
    assert env["LOG_LEVEL"] == "info"
    assert process["data"]["container"] == DOCKER_ID
    assert process["data"]["com.instana.plugin.host.name"] == TASK_ARN
    assert "com.instana.plugin.python" in plugins
    assert AGENT_KEY not in json.dumps(acceptor.bundles)


def test_deltas_between_full_snapshots(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    clock = FakeClock()
    reporter = FargateReporter(fargate_env(ecs), clock=clock)
    assert reporter.tick()
    clock.now += 1
    assert reporter.tick()
    delta = plugins_by_name(acceptor.bundles[-1])
    assert "com.instana.plugin.aws.ecs.task" not in delta, "unchanged snapshot is not resent"
    assert "com.instana.plugin.aws.ecs.container" not in delta
    assert "com.instana.plugin.process" not in delta
    [docker] = delta["com.instana.plugin.docker"]
    assert docker["entityId"] == ENTITY
    assert docker["data"] == {
        "cpu": {"total_usage": pytest.approx(0.01)},  # 5e6 / 1e9 * 2
        "network": {"rx": {"bytes": 1564}},
    }
    [python] = delta["com.instana.plugin.python"]
    assert "snapshot" not in python["data"], "runtime snapshot only with full snapshots"

    clock.now += 300
    assert reporter.tick()
    full = plugins_by_name(acceptor.bundles[-1])
    assert full["com.instana.plugin.aws.ecs.task"][0]["data"]["taskArn"] == TASK_ARN
    assert "snapshot" in full["com.instana.plugin.python"][0]["data"]
    assert "Image" in full["com.instana.plugin.docker"][0]["data"]
    assert ecs.paths.count(f"/v4/{DOCKER_ID}/task") == 2, "documents re-read with the snapshot"


def test_a_failed_flush_commits_nothing(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    clock = FakeClock()
    reporter = FargateReporter(fargate_env(ecs), clock=clock)
    assert reporter.tick()
    acceptor.status_override = 503
    make_span("kept")
    clock.now += 1
    assert reporter.tick() is False
    assert len(client.buffer) == 1, "the span waits for the next flush"
    acceptor.status_override = None
    clock.now += 1
    assert reporter.tick()
    assert [span_name(s) for s in acceptor.spans()] == ["kept"]
    [docker] = plugins_by_name(acceptor.bundles[-1])["com.instana.plugin.docker"]
    # Two reads since the last delivered bundle: rx grew by 2000 from what the backend has.
    assert docker["data"]["network"]["rx"]["bytes"] == 2564


def test_metadata_outage_backs_off_and_keeps_spans(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    clock = FakeClock()
    reporter = FargateReporter(fargate_env(ecs), clock=clock)
    ecs.down = True
    make_span("during-outage")
    attempts = []
    for _ in range(6):
        before = len(ecs.paths)
        assert reporter.tick() is False
        attempts.append(len(ecs.paths) - before)
        clock.now += 1.0
    # Tried at t=0, 1 (after 1 s), 3 (after 2 s); the next try is due at t=7.
    assert attempts == [1, 1, 0, 1, 0, 0]
    assert acceptor.requests == [] and len(client.buffer) == 1
    ecs.down = False
    clock.now += 2.0
    assert reporter.tick() is True
    [span] = acceptor.wait_for_spans(1)
    assert span_name(span) == "during-outage" and span["f"]["e"] == ENTITY


def test_stats_outage_does_not_hold_back_spans(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    reporter = FargateReporter(fargate_env(ecs))
    assert reporter.tick()
    ecs.down = True
    make_span("still-sent")
    assert reporter.tick()
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["still-sent"]


def test_v3_endpoint_fallback(client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator) -> None:
    env = fargate_env(ecs)
    env["ECS_CONTAINER_METADATA_URI"] = env.pop("ECS_CONTAINER_METADATA_URI_V4")
    reporter = FargateReporter(env)
    make_span()
    assert reporter.tick()
    assert acceptor.wait_for_spans(1)[0]["f"]["e"] == ENTITY


def test_no_endpoint_means_no_flush_and_a_warning(
    client: Client, acceptor: Acceptor, all_logs: list[Any]
) -> None:
    reporter = FargateReporter({"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"})
    make_span()
    assert reporter.tick() is False
    assert acceptor.requests == []
    assert any("ECS_CONTAINER_METADATA_URI_V4" in r.getMessage() for r in all_logs)


def test_malformed_documents_are_survived(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    ecs.container = {"Name": "web", "Labels": "not-a-dict", "Limits": [1]}
    ecs.task = {"TaskARN": TASK_ARN, "Containers": "nope", "Limits": None}
    ecs.stats = {
        "cpu_stats": "x",
        "memory_stats": {"usage": "big"},
        "networks": [],
        "blkio_stats": 1,
    }
    reporter = FargateReporter(fargate_env(ecs))
    make_span()
    assert reporter.tick()
    [span] = acceptor.wait_for_spans(1)
    assert span["f"]["e"] == ENTITY
    plugins = plugins_by_name(acceptor.bundles[-1])
    assert plugins["com.instana.plugin.docker"][0]["data"] == {}


def test_background_thread_flushes_every_interval(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    reporter = FargateReporter(fargate_env(ecs), interval_s=0.1)
    reporter.ensure_running()
    reporter.ensure_running()
    try:
        assert reporter.running
        threads = [t for t in threading.enumerate() if t.name == "instana-fargate-reporter"]
        assert len(threads) == 1 and threads[0].daemon
        make_span("first")
        acceptor.wait_for_spans(1, timeout=2)
        started = time.monotonic()
        time.sleep(0.55)
        ticks = reporter.ticks
        make_span("second")
        acceptor.wait_for_spans(2, timeout=2)
        waited = time.monotonic() - started
    finally:
        reporter.stop()
    assert 3 <= ticks <= 9, ticks
    assert waited < 1.0
    assert not reporter.running


def test_default_cadence_is_one_second(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator
) -> None:
    reporter = FargateReporter(fargate_env(ecs))
    assert reporter.interval_s == 1.0
    reporter.ensure_running()
    try:
        started = time.monotonic()
        make_span()
        acceptor.wait_for_spans(1, timeout=3)
        first = time.monotonic() - started
    finally:
        reporter.stop()
    assert 0.8 <= first <= 2.0, first


def test_middleware_on_fargate_leaves_flushing_to_the_reporter(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("K_", "AWS_LAMBDA", "FUNCTIONS_")):
            monkeypatch.delenv(name)
    for name, value in fargate_env(ecs).items():
        monkeypatch.setenv(name, value)
    fargate_reporter._reset_for_tests()
    try:
        app = flask.Flask("svc")
        app.add_url_rule("/", "index", lambda: "ok")
        app.wsgi_app = WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
        running: Optional[FargateReporter] = fargate_reporter._reporter
        assert running is not None and running.running
        response = WerkzeugClient(app).get("/", buffered=True)
        assert response.status_code == 200 and "intid" in response.headers["Server-Timing"]
        assert acceptor.requests == [], "no flush on the request path"
        assert len(client.buffer) == 1
        [span] = acceptor.wait_for_spans(1, timeout=3)
        assert span_name(span) == "wsgi" and span["f"]["e"] == ENTITY
    finally:
        fargate_reporter._reset_for_tests()


def test_instrument_on_fargate_leaves_the_entries_it_opens_to_the_reporter(
    client: Client, acceptor: Acceptor, ecs: EcsMetadataEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker no wrapper covers (a Kafka consumer) calls ``instrument()``: its entries are not
    sent inline without the task's entity, the reporter sends them as the task's container."""
    for name in list(os.environ):
        if name.startswith(("K_", "AWS_LAMBDA", "FUNCTIONS_")):
            monkeypatch.delenv(name)
    for name, value in fargate_env(ecs).items():
        monkeypatch.setenv(name, value)
    fargate_reporter._reset_for_tests()
    try:
        instana.instrument()
        assert sending.current_rule() is fargate_reporter.RULE
        running: Optional[FargateReporter] = fargate_reporter._reporter
        assert running is not None and running.running
        with instana.entry_span("kafka", data={"kafka": {"service": "orders"}}):
            pass
        assert acceptor.requests == [], "no flush when the unit of work ends"
        [span] = acceptor.wait_for_spans(1, timeout=3)
        assert span_name(span) == "kafka" and span["f"] == {"hl": True, "cp": "aws", "e": ENTITY}
    finally:
        fargate_reporter._reset_for_tests()
        uninstrument()
    assert sending.current_rule() is sending.DEFAULT
