"""The local acceptor: real HTTP over loopback, validation, tree rendering and the CLI."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from instana_serverless.acceptor import Acceptor, render_traces, validate_bundle
from instana_serverless.acceptor.server import MAX_BODY_BYTES

KEY = "acceptor-test-key"
REPO = Path(__file__).resolve().parent.parent
T = "a1b2c3d4e5f60718"


def make_span(**overrides: Any) -> Dict[str, Any]:
    span: Dict[str, Any] = {
        "t": T,
        "s": "0000000000000001",
        "ts": 1_700_000_000_000,
        "d": 12.3,
        "n": "aws.lambda.entry",
        "k": 1,
    }
    span.update(overrides)
    return span


def make_bundle(*spans: Dict[str, Any]) -> Dict[str, Any]:
    plugin = {"name": "com.instana.plugin.python", "entityId": "123", "data": {"pid": 123}}
    return {"spans": list(spans or [make_span()]), "metrics": {"plugins": [plugin]}}


def post(
    conn: http.client.HTTPConnection,
    body: bytes,
    path: str = "/bundle",
    key: Optional[str] = KEY,
) -> Tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-Instana-Key"] = key
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read().decode("utf-8")


def connect(acceptor: Acceptor) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", acceptor.port, timeout=5)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Acceptor]:
    with Acceptor(key=KEY, output=tmp_path / "bundles.jsonl") as acceptor:
        yield acceptor


def test_accepted_bundle_is_stored_and_written(server: Acceptor, tmp_path: Path) -> None:
    bundle = make_bundle(make_span(), make_span(s="0000000000000002", p="0000000000000001", k=2))
    status, _ = post(connect(server), json.dumps(bundle).encode())
    assert 200 <= status < 300
    assert server.bundles == [bundle]
    assert [s["s"] for s in server.spans()] == ["0000000000000001", "0000000000000002"]
    (request,) = server.requests
    assert request["path"] == "/bundle" and request["status"] == status
    assert request["headers"]["x-instana-key"] == KEY
    lines = (tmp_path / "bundles.jsonl").read_text().splitlines()
    assert lines == [json.dumps(bundle, separators=(",", ":"))]


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_wrong_or_missing_key_is_401(server: Acceptor, key: Optional[str]) -> None:
    status, body = post(connect(server), json.dumps(make_bundle()).encode(), key=key)
    assert status == 401
    assert "X-Instana-Key" in body
    assert server.bundles == []
    assert server.requests[0]["status"] == 401


def test_malformed_json_is_400_with_reason(server: Acceptor) -> None:
    status, body = post(connect(server), b'{"spans": [')
    assert status == 400
    assert body.startswith("invalid JSON:")
    assert server.bundles == []


def test_nan_is_not_json(server: Acceptor) -> None:
    status, body = post(connect(server), b'{"spans": [{"d": NaN}]}')
    assert status == 400 and "NaN" in body


@pytest.mark.parametrize(
    ("span", "field"),
    [
        (make_span(t="A1B2C3D4E5F60718"), "spans[0].t"),
        (make_span(s="123"), "spans[0].s"),
        (make_span(p=None), "spans[0].p"),
        (make_span(lt="abc"), "spans[0].lt"),
        (make_span(ts="1700000000000"), "spans[0].ts"),
        (make_span(d=-1), "spans[0].d"),
        (make_span(n=""), "spans[0].n"),
        (make_span(k=True), "spans[0].k"),
        (make_span(k=4), "spans[0].k"),
        (make_span(ec=-1), "spans[0].ec"),
        (make_span(f={"hl": "yes"}), "spans[0].f.hl"),
        (make_span(ia={"t": T}), "spans[0].ia.p"),
        ({k: v for k, v in make_span().items() if k != "n"}, "spans[0].n"),
    ],
)
def test_invalid_span_is_400_naming_the_field(
    server: Acceptor, span: Dict[str, Any], field: str
) -> None:
    status, body = post(connect(server), json.dumps(make_bundle(span)).encode())
    assert status == 400
    assert f"{field}:" in body
    assert server.bundles == []


def test_validate_bundle_reports_index_and_nested_problems() -> None:
    bundle = {
        "spans": [make_span(), make_span(), make_span(t="xyz")],
        "metrics": {"plugins": [{"name": "p", "entityId": 7, "data": []}]},
        "extra": None,
    }
    problems = validate_bundle(bundle)
    assert problems[0] == "extra: must not be null"
    assert problems[1].startswith("spans[2].t: expected 16 lowercase hex chars")
    assert problems[2:] == [
        "metrics.plugins[0].entityId: expected a string, got 7",
        "metrics.plugins[0].data: expected an object, got a list",
    ]
    assert validate_bundle({"spans": [], "metrics": {"plugins": []}}) == []
    assert validate_bundle([]) == ["bundle: expected a JSON object, got a list"]


def test_oversized_body_is_413_and_server_keeps_answering(server: Acceptor) -> None:
    conn = connect(server)
    status, body = post(conn, b" " * (MAX_BODY_BYTES + 1))
    assert status == 413 and str(MAX_BODY_BYTES) in body
    status, _ = post(conn, json.dumps(make_bundle()).encode())
    assert status == 204
    assert len(server.bundles) == 1


def test_keep_alive_two_requests_on_one_connection(server: Acceptor) -> None:
    conn = connect(server)
    assert post(conn, json.dumps(make_bundle()).encode())[0] == 204
    first_socket = conn.sock
    assert post(conn, json.dumps(make_bundle(make_span(s="00000000000000ff"))).encode())[0] == 204
    assert conn.sock is first_socket and first_socket is not None
    assert len(server.spans()) == 2


def test_base_path_is_accepted(server: Acceptor) -> None:
    status, _ = post(connect(server), json.dumps(make_bundle()).encode(), path="/x/y/bundle")
    assert status == 204
    assert server.requests[0]["path"] == "/x/y/bundle"
    assert len(server.bundles) == 1


def test_other_paths_and_methods(server: Acceptor) -> None:
    conn = connect(server)
    assert post(conn, b"{}", path="/spans") == (404, "not found: /spans\n")
    conn.request("GET", "/bundle")
    response = conn.getresponse()
    assert (response.status, response.read()) == (405, b"use POST for bundles\n")
    conn.request("PUT", "/bundle", body=b"{}")
    response = conn.getresponse()
    assert (response.status, response.read()) == (405, b"method not allowed\n")
    conn.request("GET", "/health")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"ok\n")
    post(conn, json.dumps(make_bundle()).encode())
    conn.request("GET", "/api/bundles")
    response = conn.getresponse()
    assert json.loads(response.read()) == [make_bundle()]


def test_status_override_and_delay_can_change_while_running(server: Acceptor) -> None:
    server.status_override = 503
    assert post(connect(server), json.dumps(make_bundle()).encode())[0] == 503
    assert server.bundles == []
    server.status_override = None
    server.delay_s = 0.2
    started = time.perf_counter()
    assert post(connect(server), json.dumps(make_bundle()).encode())[0] == 204
    assert time.perf_counter() - started >= 0.2


def test_wait_for_spans(server: Acceptor) -> None:
    post(connect(server), json.dumps(make_bundle()).encode())
    assert [s["n"] for s in server.wait_for_spans(1)] == ["aws.lambda.entry"]
    started = time.perf_counter()
    with pytest.raises(TimeoutError, match=r"at least 2 spans within 0\.2s, got 1"):
        server.wait_for_spans(2, timeout=0.2)
    assert time.perf_counter() - started >= 0.2
    server.clear()
    assert server.bundles == [] and server.requests == []


def test_stop_closes_kept_alive_connections(tmp_path: Path) -> None:
    acceptor = Acceptor().start()
    conn = connect(acceptor)
    conn.request("GET", "/health")
    assert conn.getresponse().read() == b"ok\n"
    acceptor.stop()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        conn.request("GET", "/health")
        conn.getresponse()


def test_tree_of_entry_exit_and_orphan() -> None:
    entry = make_span(d=12.34, ec=1, data={"lambda": {"trigger": "aws:api.gateway"}})
    exit_span = make_span(
        s="0000000000000002",
        p="0000000000000001",
        ts=1_700_000_000_005,
        d=3,
        n="urllib3",
        k=2,
        data={"http": {"method": "GET", "url": "https://example.com/a"}},
    )
    orphan = make_span(
        s="0000000000000003",
        p="00000000000000aa",
        ts=1_700_000_000_001,
        d=0.5,
        n="sdk",
        k=3,
        data={"sdk": {"name": "step"}},
    )
    other = make_span(t="ffffffffffffffff", s="0000000000000009", ts=1_600_000_000_000)
    text = render_traces([exit_span, orphan, entry, other])
    assert text == (
        "trace ffffffffffffffff (1 spans)\n"
        "  aws.lambda.entry  entry  12.3 ms\n"
        f"trace {T} (3 spans)\n"
        "  aws.lambda.entry  entry  12.3 ms  [error x1]  aws:api.gateway\n"
        "    urllib3  exit  3.0 ms  GET https://example.com/a\n"
        "  sdk:step  intermediate  0.5 ms  (parent 00000000000000aa)\n"
    )
    assert render_traces([]) == ""


def test_echo_prints_trees(tmp_path: Path) -> None:
    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

    sink = Sink()
    with Acceptor(echo=sink) as acceptor:  # type: ignore[arg-type]
        post(connect(acceptor), json.dumps(make_bundle()).encode())
    assert sink.text == (
        "bundle from ?: 1 spans, 1 plugins\n"
        f"trace {T} (1 spans)\n"
        "  aws.lambda.entry  entry  12.3 ms\n"
    )


def test_cli_subprocess_accepts_and_stops_on_sigterm(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "instana_serverless.acceptor", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--output", str(output), "--key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(
            r"acceptor listening on http://127\.0\.0\.1:(\d+)/bundle, writing to (.+)\n", line
        )
        assert match, line
        assert match.group(2) == str(output)
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=5)
        assert post(conn, json.dumps(make_bundle()).encode())[0] == 204
        assert post(conn, json.dumps(make_bundle()).encode(), key="wrong")[0] == 401
        assert post(conn, b"{oops")[0] == 400
        conn.close()
        assert json.loads(output.read_text()) == make_bundle()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"trace {T} (1 spans)" in stdout
    # Every refused bundle: status, the reason sent back, the sender's Host header.
    port = match.group(1)
    refused = [line for line in stderr.splitlines() if line.startswith("acceptor: refused")]
    assert refused[0] == (
        f"acceptor: refused POST /bundle with 401: missing or wrong X-Instana-Key "
        f"(Host: 127.0.0.1:{port})"
    )
    assert refused[1].startswith("acceptor: refused POST /bundle with 400: invalid JSON: ")
    assert refused[1].endswith(f"(Host: 127.0.0.1:{port})") and len(refused) == 2


def test_cli_default_output_goes_under_out(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "instana_serverless.acceptor", "--port", "0", "--quiet"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(
            r"acceptor listening on http://127\.0\.0\.1:(\d+)/bundle, "
            r"writing to (.+)\n",
            line,
        )
        assert match, line
        assert match.group(2) == os.path.join("out", "instana-bundles.jsonl")
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=5)
        assert post(conn, json.dumps(make_bundle()).encode(), key=None)[0] == 204
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    assert json.loads((tmp_path / "out" / "instana-bundles.jsonl").read_text()) == make_bundle()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "out/" in ignored or "/out/" in ignored or "out" in ignored


def test_cli_main_rejects_unknown_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from instana_serverless.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["nope"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
