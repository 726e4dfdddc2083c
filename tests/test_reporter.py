"""The reporter against the real local acceptor over loopback HTTP (docs/CONTRACT.md §3)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any, Iterator, List

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.buffer import SpanBuffer
from instana_serverless.client import Client
from instana_serverless.reporter import MAX_BUNDLE_BYTES, encode_bundles
from instana_serverless.span import Span
from instana_serverless.tracer import start_entry
from instana_serverless.transport.endpoint import EndpointError, parse_endpoint

from .conftest import AGENT_KEY, free_port, span_name
from .raw_server import SocketServer, read_request


def run_entries(count: int, name: str = "job") -> None:
    for _ in range(count):
        with instana.entry_span(name, flush=False):
            pass


def test_bundle_path_headers_and_body(client: Client, acceptor: Acceptor) -> None:
    client.set_host_id("host-123")
    client.set_source("aws", "arn:aws:lambda:eu-west-1:1:function:f:1")
    with instana.entry_span("job"):
        pass
    (request,) = acceptor.requests
    assert request["path"] == "/bundle"
    assert request["headers"]["x-instana-key"] == AGENT_KEY
    assert request["headers"]["x-instana-host"] == "host-123"
    assert request["headers"]["content-type"] == "application/json"
    assert "x-instana-t" not in request["headers"] and "traceparent" not in request["headers"]
    (bundle,) = acceptor.bundles
    (span,) = bundle["spans"]
    assert span_name(span) == "job" and span["k"] == 1
    assert span["f"] == {"hl": True, "e": "arn:aws:lambda:eu-west-1:1:function:f:1", "cp": "aws"}
    names = [p["name"] for p in bundle["metrics"]["plugins"]]
    assert "com.instana.plugin.python" in names


def test_base_path_kept_and_trailing_slash_dropped(acceptor: Acceptor) -> None:
    instana.configure(
        instana.Options(endpoint_url=acceptor.url + "/serverless/", agent_key=AGENT_KEY), environ={}
    )
    try:
        with instana.entry_span("job"):
            pass
        assert acceptor.requests[0]["path"] == "/serverless/bundle"
    finally:
        instana.configure(environ={})


def test_compact_json_body(client: Client, acceptor: Acceptor) -> None:
    bodies: List[bytes] = []
    transport_post = client.reporter._transport_factory

    def capturing_factory() -> Any:
        transport = transport_post()
        original = transport.post

        def post(resource: str, body: bytes, headers: Any, deadline: float) -> int:
            bodies.append(body)
            return original(resource, body, headers, deadline)

        transport.post = post  # type: ignore[method-assign]
        return transport

    client.reporter._transport_factory = capturing_factory
    with instana.entry_span("job"):
        pass
    assert bodies and b": " not in bodies[0] and b", " not in bodies[0]
    assert span_name(json.loads(bodies[0])["spans"][0]) == "job"


def test_all_spans_of_a_finished_entry_arrive_in_its_flush(
    client: Client, acceptor: Acceptor
) -> None:
    with instana.entry_span("job"):
        for i in range(5):
            with instana.span(f"step{i}"):
                pass
    assert len(acceptor.bundles) == 1
    assert len(acceptor.bundles[0]["spans"]) == 6


def test_flush_with_nothing_buffered_still_sends_metrics(
    client: Client, acceptor: Acceptor
) -> None:
    assert instana.flush()
    assert acceptor.bundles[0]["spans"] == []


@pytest.mark.parametrize("failure", ["down", "hanging", "500", "503"])
def test_failed_flush_costs_at_most_the_timeout_and_keeps_spans(failure: str) -> None:
    port = free_port()
    server = Acceptor(port=port, key=AGENT_KEY)
    if failure == "hanging":
        server.delay_s = 3.0
    elif failure in ("500", "503"):
        server.status_override = int(failure)
    if failure != "down":
        server.start()
    instana.configure(
        instana.Options(
            endpoint_url=f"http://127.0.0.1:{port}", agent_key=AGENT_KEY, timeout_ms=300
        ),
        environ={},
    )
    try:
        run_entries(3)
        started = time.perf_counter()
        assert instana.flush() is False
        elapsed = time.perf_counter() - started
        assert elapsed < 0.3 + 0.15, f"flush took {elapsed:.3f}s"
        # The backend recovers: the kept spans arrive with the next flush.
        if failure == "down":
            server.start()
        server.delay_s = 0.0
        server.status_override = None
        server.clear()
        run_entries(1, "later")
        assert instana.flush() is True
        names = sorted(span_name(s) for s in server.spans())
        assert names == ["job", "job", "job", "later"]
    finally:
        server.stop()
        instana.configure(environ={})


def test_buffer_bound_drops_oldest_and_counts() -> None:
    buffer = SpanBuffer(capacity=10)
    spans = [start_entry(f"s{i}", None, on_finish=None) for i in range(15)]
    for span in spans[:8]:
        buffer.add(span)
    drained = buffer.drain()
    for span in spans[8:]:
        buffer.add(span)
    buffer.requeue(drained)  # 8 requeued + 7 newer = 15 > 10
    kept = buffer.drain()
    assert len(kept) == 10 and buffer.dropped == 5
    assert [s.name for s in kept] == [f"s{i}" for i in range(5, 8)] + [
        f"s{i}" for i in range(8, 15)
    ]


def test_buffer_bound_holds_through_repeated_failures() -> None:
    port = free_port()
    instana.configure(
        instana.Options(
            endpoint_url=f"http://127.0.0.1:{port}", agent_key=AGENT_KEY, timeout_ms=100
        ),
        environ={},
    )
    try:
        client = instana.configure(
            instana.Options(
                endpoint_url=f"http://127.0.0.1:{port}", agent_key=AGENT_KEY, timeout_ms=100
            ),
            environ={},
        )
        for _ in range(3):
            run_entries(600)
            assert client.flush() is False
        assert len(client.buffer) == 1000
        assert client.buffer.dropped == 800
    finally:
        instana.configure(environ={})


def test_agent_key_in_no_log_line(acceptor: Acceptor, all_logs: List[logging.LogRecord]) -> None:
    logger = logging.getLogger("instana_serverless")
    previous = logger.level
    port = free_port()
    try:
        for url in (acceptor.url, f"http://127.0.0.1:{port}", "http://example.com", "not a url"):
            instana.configure(
                instana.Options(endpoint_url=url, agent_key=AGENT_KEY, debug=True, timeout_ms=100),
                environ={},
            )
            run_entries(2)
            instana.flush()
        acceptor.status_override = 401
        instana.configure(
            instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, debug=True), environ={}
        )
        run_entries(1)
        instana.flush()
    finally:
        instana.configure(environ={})
        logger.setLevel(previous)
    assert len(all_logs) >= 3
    for record in all_logs:
        assert AGENT_KEY not in record.getMessage()
        assert AGENT_KEY not in repr(record.args)


def test_http_to_non_loopback_is_refused_with_clear_message(
    all_logs: List[logging.LogRecord],
) -> None:
    with pytest.raises(EndpointError, match=r"plain http://.*https://"):
        parse_endpoint("http://instana.example.com/serverless")
    client = instana.configure(
        instana.Options(endpoint_url="http://instana.example.com", agent_key=AGENT_KEY), environ={}
    )
    try:
        assert not client.reporting and not client.tracing
        assert any("plain http://" in r.getMessage() for r in all_logs)
    finally:
        instana.configure(environ={})


def test_endpoint_parsing() -> None:
    assert parse_endpoint("https://a.example/base/") == ("https", "a.example", 443, "/base")
    assert parse_endpoint("http://127.0.0.5:8080").base_path == ""
    assert parse_endpoint("http://[::1]:9/x").host == "::1"
    assert parse_endpoint("http://localhost:1").path_for("bundle") == "/bundle"
    for bad in ("ftp://x", "https://", "https://h:99999", "https://h:abc", "//h"):
        with pytest.raises(EndpointError):
            parse_endpoint(bad)


def test_missing_key_is_a_noop_with_one_warning(all_logs: List[logging.LogRecord]) -> None:
    client = instana.configure(environ={"INSTANA_ENDPOINT_URL": "https://x.example"})
    try:
        warnings = [r for r in all_logs if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "INSTANA_AGENT_KEY" in warnings[0].getMessage()
        with instana.entry_span("job") as span:
            assert not span.recording
        assert client.flush() is True and len(client.buffer) == 0
    finally:
        instana.configure(environ={})


def wire(i: int, data_bytes: int) -> dict[str, Any]:
    return {
        "t": "a" * 16,
        "s": f"{i:016x}",
        "ts": 1,
        "d": 0,
        "n": "x",
        "k": 3,
        "data": {"blob": "x" * data_bytes},
    }


def test_bundles_split_under_the_limit() -> None:
    spans = [wire(i, 1000) for i in range(50)]
    bodies = encode_bundles(spans, [{"name": "p", "entityId": "1"}], limit=10_000)
    assert len(bodies) > 1
    assert all(len(body) <= 10_000 for body, _ in bodies)
    assert sum(count for _, count in bodies) == 50
    decoded = [json.loads(body) for body, _ in bodies]
    assert [s["s"] for d in decoded for s in d["spans"]] == [s["s"] for s in spans]
    assert decoded[0]["metrics"]["plugins"] and all(
        not d["metrics"]["plugins"] for d in decoded[1:]
    )


def test_oversized_span_is_trimmed_not_dropped() -> None:
    bodies = encode_bundles([wire(1, 20_000), wire(2, 10)], [], limit=10_000)
    decoded = [json.loads(body) for body, _ in bodies]
    spans = [s for d in decoded for s in d["spans"]]
    assert [s["s"] for s in spans] == [f"{1:016x}", f"{2:016x}"]
    assert spans[0]["data"]["trimmed"] is True
    assert all(len(body) <= 10_000 for body, _ in bodies)


def test_real_limit_is_five_mib() -> None:
    assert MAX_BUNDLE_BYTES == 5 * 1024 * 1024


def test_big_flush_is_split_and_accepted(client: Client, acceptor: Acceptor) -> None:
    for _i in range(8):
        with instana.entry_span("big", data={"blob": {"x": "y" * 900_000}}, flush=False):
            pass
    assert instana.flush()
    assert len(acceptor.bundles) >= 2
    assert len(acceptor.spans()) == 8


class OneRequestPerConnectionServer(SocketServer):
    """Answers one request per connection, then closes without saying so: what a kept-alive
    connection looks like after the process was frozen and the server timed it out."""

    def __init__(self) -> None:
        self.requests = 0
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        with conn:
            if read_request(conn):
                self.requests += 1
                conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")


def test_stale_keep_alive_connection_is_retried_once() -> None:
    server = OneRequestPerConnectionServer()
    client = instana.configure(
        instana.Options(endpoint_url=f"http://127.0.0.1:{server.port}", agent_key=AGENT_KEY),
        environ={},
    )
    try:
        for _ in range(3):
            run_entries(1)
            assert client.flush() is True
            time.sleep(0.05)  # let the server close its side
        assert server.requests == 3
        assert server.connections == 3
    finally:
        server.close()
        instana.configure(environ={})


@pytest.fixture
def no_leak() -> Iterator[None]:
    yield
    instana.configure(environ={})


def test_span_timestamps_and_durations(client: Client, acceptor: Acceptor) -> None:
    before = time.time() * 1000
    with instana.entry_span("job"):
        time.sleep(0.02)
    (span,) = acceptor.spans()
    assert before - 1 <= span["ts"] <= time.time() * 1000
    assert 15 <= span["d"] <= 500


def test_spans_objects_are_not_shared_between_flushes(client: Client, acceptor: Acceptor) -> None:
    entry: Span
    with instana.entry_span("one") as entry:
        pass
    with instana.entry_span("two"):
        pass
    assert [span_name(b["spans"][0]) for b in acceptor.bundles] == ["one", "two"]
    assert entry.finished


def test_concurrent_flushes_take_turns_and_lose_nothing(client: Client, acceptor: Acceptor) -> None:
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        try:
            for _ in range(5):
                with instana.entry_span(f"w{n}"):
                    pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    instana.flush()
    assert not errors
    assert len(acceptor.wait_for_spans(30)) == 30
    assert all(r["status"] < 300 for r in acceptor.requests)


def test_prewarm_opens_the_connection_before_the_first_flush(acceptor: Acceptor) -> None:
    server = OneRequestPerConnectionServer()
    client = instana.configure(
        instana.Options(endpoint_url=f"http://127.0.0.1:{server.port}", agent_key=AGENT_KEY),
        environ={},
    )
    try:
        client.prewarm()
        client.prewarm()  # once per client
        deadline = time.monotonic() + 2
        while server.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert server.connections == 1 and server.requests == 0
        run_entries(1)
        assert client.flush() is True
        assert (server.connections, server.requests) == (1, 1)
    finally:
        server.close()
        instana.configure(environ={})


def test_prewarm_against_a_down_backend_loses_nothing() -> None:
    client = instana.configure(
        instana.Options(
            endpoint_url=f"http://127.0.0.1:{free_port()}", agent_key=AGENT_KEY, timeout_ms=200
        ),
        environ={},
    )
    try:
        client.reporter.prewarm()  # synchronously: must swallow the refusal
        run_entries(2)
        assert client.flush() is False
        assert len(client.buffer) == 2
    finally:
        instana.configure(environ={})
