"""The plugin schedule (full snapshots and deltas) and the reporter's fork safety."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.fargate.reporter import FargateReporter
from instana_serverless.metrics.schedule import PluginSchedule, diff


def test_diff_keeps_only_changed_values() -> None:
    old = {"a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2], "d": "same"}
    new = {"a": 2, "b": {"x": 1, "y": 3, "z": 0}, "c": [1, 2], "d": "same", "e": None}
    assert diff(new, old) == {"a": 2, "b": {"y": 3, "z": 0}, "e": None}
    assert diff(old, old) == {}
    assert diff({"b": 5}, {"b": {"x": 1}}) == {"b": 5}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_min_interval_spaces_metrics_and_broken_producers_are_skipped(
    client: Client, acceptor: Acceptor
) -> None:
    clock = Clock()
    counter = {"n": 0}

    def producer() -> List[Dict[str, Any]]:
        counter["n"] += 1
        return [{"name": "com.example.plugin", "entityId": "e1", "data": {"n": counter["n"]}}]

    def broken() -> List[Dict[str, Any]]:
        raise RuntimeError("metrics bug")

    schedule = PluginSchedule(min_interval_s=5.0, clock=clock)
    schedule.producers.extend([broken, producer])
    assert schedule.flush(client)
    clock.now = 2.0
    assert schedule.flush(client)  # nothing due, nothing buffered: no request at all
    clock.now = 6.0
    assert schedule.flush(client)
    bundles = acceptor.bundles
    assert len(bundles) == 2
    first = {p["name"]: p for p in bundles[0]["metrics"]["plugins"]}
    second = {p["name"]: p for p in bundles[1]["metrics"]["plugins"]}
    assert first["com.example.plugin"]["data"] == {"n": 1}
    assert second["com.example.plugin"]["data"] == {"n": 2}
    assert "snapshot" in first["com.instana.plugin.python"]["data"]
    assert "snapshot" not in second["com.instana.plugin.python"]["data"]
    # The runtime plugin now follows the schedule instead of going with every flush.
    sources = client.reporter.plugin_sources
    assert not any(type(s).__name__ == "PythonRuntimePlugin" for s in sources)


def test_reporter_thread_is_restarted_in_a_forked_child(client: Client) -> None:
    reporter = FargateReporter({}, interval_s=0.05)
    reporter.ensure_running()
    try:
        assert reporter.running
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: the parent's thread did not survive the fork
            status = b"0"
            try:
                if not reporter.running:
                    reporter.ensure_running()
                    status = b"1" if reporter.running else b"2"
            finally:
                os.write(write, status)
                os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.waitpid(pid, 0)
        os.close(read)
        assert answer == b"1"
        assert reporter.running, "the parent's thread is untouched"
    finally:
        reporter.stop()
