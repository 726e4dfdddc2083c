"""The local acceptor under hostile input (issue 12, items 12 and 13): deep parent chains,
terminal escape sequences, connection bursts and recorded data read from the network."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from instana_serverless.acceptor import Acceptor
from instana_serverless.acceptor.server import _Server
from instana_serverless.acceptor.tree import printable, walk_trace
from tests.test_acceptor import KEY, connect, make_bundle, make_span, post


def chain(length: int) -> List[Dict[str, Any]]:
    """``length`` spans, each the parent of the next."""
    spans = []
    for index in range(1, length + 1):
        span = make_span(s=f"{index:016x}", ts=1_700_000_000_000 + index, k=3 if index > 1 else 1)
        if index > 1:
            span["p"] = f"{index - 1:016x}"
        spans.append(span)
    return spans


def get(acceptor: Acceptor, path: str, headers: Optional[Dict[str, str]] = None) -> Tuple[int, str]:
    conn = connect(acceptor)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        conn.close()


def test_a_parent_chain_of_thousands_of_spans_is_accepted_once_and_drawn() -> None:
    echo = io.StringIO()
    with Acceptor(key=KEY, echo=echo, ui=True) as acceptor:
        body = json.dumps(make_bundle(*chain(3000))).encode()
        conn = connect(acceptor)
        assert post(conn, body)[0] == 204
        conn.close()
        assert len(acceptor.bundles) == 1
        status, text = get(acceptor, "/api/traces")
        assert status == 200
        (trace,) = json.loads(text)["traces"]
        assert [row["depth"] for row in trace["spans"]] == list(range(3000))
    lines = echo.getvalue().splitlines()
    assert len(lines) == 3002 and "[depth 2999]" in lines[-1] and len(lines[-1]) < 200


def test_iterative_walk_keeps_the_depth_first_order() -> None:
    spans = [
        make_span(s="000000000000000a", ts=1),
        make_span(s="000000000000000b", p="000000000000000a", ts=3),
        make_span(s="000000000000000c", p="000000000000000a", ts=2),
        make_span(s="000000000000000d", p="000000000000000c", ts=4),
        make_span(s="000000000000000e", p="000000000000000f", ts=5),  # a cycle
        make_span(s="000000000000000f", p="000000000000000e", ts=6),
    ]
    assert walk_trace(spans) == [
        (0, 0, True),
        (2, 1, False),
        (3, 2, False),
        (1, 1, False),
        (4, 0, True),
        (5, 1, False),
    ]


class Exploding(io.StringIO):
    def write(self, text: str) -> int:
        raise RuntimeError("terminal gone strange")


def test_no_bundle_is_stored_when_the_answer_is_5xx(tmp_path: Path) -> None:
    # Printing fails after validation: the bundle is stored once and answered 204, never
    # stored and answered 500 (the reporter would send it again and it would count twice).
    with Acceptor(key=KEY, echo=Exploding()) as acceptor:
        conn = connect(acceptor)
        assert post(conn, json.dumps(make_bundle()).encode())[0] == 204
        assert len(acceptor.bundles) == 1
    # Writing the output file fails: 500, and nothing stored.
    with Acceptor(key=KEY, output=tmp_path) as acceptor:
        conn = connect(acceptor)
        assert post(conn, json.dumps(make_bundle()).encode())[0] == 500
        assert acceptor.bundles == []


def test_control_characters_are_escaped_on_the_terminal() -> None:
    echo = io.StringIO()
    hostile = "\x1b]0;pwned\x07\x1b[2J\rname\u009b"
    with Acceptor(key=KEY, echo=echo) as acceptor:
        bundle = make_bundle(make_span(n=hostile, data={"http": {"method": "GET\x1b[5m"}}))
        conn = connect(acceptor)
        conn.request(
            "POST",
            "/bundle",
            body=json.dumps(bundle).encode(),
            headers={"X-Instana-Key": KEY, "X-Instana-Host": "host\x1b[31m"},
        )
        assert conn.getresponse().status == 204
    shown = echo.getvalue()
    assert not any(char in shown for char in "\x1b\x07\r\u009b")
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\rname\\x9b" in shown and "host\\x1b[31m" in shown
    assert acceptor.spans()[0]["n"] == hostile, "only the terminal output is escaped"
    assert printable("plain text, ünïcode ✓") == "plain text, ünïcode ✓"


def test_a_burst_of_connections_is_queued_not_dropped() -> None:
    # Not serving: every connection waits in the listen backlog, as in a burst that
    # arrives faster than the acceptor's thread accepts.
    server = _Server(("127.0.0.1", 0), Acceptor())
    clients: List[socket.socket] = []
    try:
        for _ in range(60):
            client = socket.create_connection(server.server_address[:2], timeout=0.3)
            clients.append(client)
    finally:
        for client in clients:
            client.close()
        server.server_close()
    assert len(clients) == 60


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("10.1.2.3", False),
        ("acceptor.example.com", False),
    ],
)
def test_loopback_binding(host: str, loopback: bool) -> None:
    assert Acceptor(host=host).loopback is loopback


def network_bound(acceptor: Acceptor) -> None:
    # The acceptor believes it is bound to all interfaces; the test's socket stays on
    # loopback (nothing here may listen on a network address).
    acceptor.host = "0.0.0.0"


def test_recorded_data_needs_the_key_when_reachable_from_the_network() -> None:
    with Acceptor(key=KEY, ui=True) as acceptor:
        conn = connect(acceptor)
        assert post(conn, json.dumps(make_bundle()).encode())[0] == 204
        assert get(acceptor, "/api/bundles")[0] == 200, "loopback: readable without the key"
        network_bound(acceptor)
        for path in ("/api/bundles", "/api/traces"):
            assert get(acceptor, path)[0] == 401
            assert get(acceptor, path, {"X-Instana-Key": "wrong"})[0] == 401
            assert get(acceptor, path, {"X-Instana-Key": KEY})[0] == 200
            assert get(acceptor, f"{path}?key={KEY}")[0] == 200
        assert get(acceptor, "/health")[0] == 200
        assert get(acceptor, "/")[0] == 200, "the page itself holds no recorded data"
        assert post(conn, json.dumps(make_bundle()).encode())[0] == 204, "POSTs unchanged"
    with Acceptor(ui=True) as keyless:
        network_bound(keyless)
        status, text = get(keyless, "/api/traces")
        assert status == 403 and "--key" in text


def test_trace_view_passes_the_page_key_on() -> None:
    from importlib import resources

    script = (resources.files("instana_serverless.acceptor") / "ui" / "app.js").read_text()
    assert 'get("key")' in script and '"X-Instana-Key": pageKey' in script
