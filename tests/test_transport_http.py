"""The HTTP/1.1 client against servers answering in every framing the protocol allows."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator, List

import pytest

from instana_serverless.transport.http import HttpTransport, TransportError
from tests.raw_server import SocketServer, read_request


class CannedServer(SocketServer):
    """Reads one request per turn and answers with the next canned response."""

    def __init__(self, responses: List[bytes], close_after: bool = False) -> None:
        self.responses = list(responses)
        self.close_after = close_after
        self.requests: List[bytes] = []
        super().__init__()

    def accepting(self) -> bool:
        return bool(self.responses)

    def handle(self, conn: socket.socket) -> None:
        with conn:
            while self.responses:
                request = read_request(conn)
                if not request:
                    break
                self.requests.append(request)
                conn.sendall(self.responses.pop(0))
                if self.close_after:
                    break


@pytest.fixture
def make_server() -> Iterator[object]:
    servers: List[CannedServer] = []

    def factory(responses: List[bytes], close_after: bool = False) -> CannedServer:
        server = CannedServer(responses, close_after)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.close()


def transport_for(server: CannedServer) -> HttpTransport:
    return HttpTransport(
        f"http://127.0.0.1:{server.port}/base",
        headers={"X-Instana-Key": "k", "Content-Type": "application/json"},
    )


def post(transport: HttpTransport, body: bytes = b'{"spans":[]}') -> int:
    return transport.post("bundle", body, {"X-Instana-Host": "h"}, time.monotonic() + 2)


def test_request_form(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server([b"HTTP/1.1 204 No Content\r\n\r\n"])
    assert post(transport_for(server), b"{}") == 204
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /base/bundle HTTP/1.1"
    assert b"Host: 127.0.0.1:%d" % server.port in lines
    assert b"X-Instana-Key: k" in lines and b"X-Instana-Host: h" in lines
    assert b"Content-Length: 2" in lines and body == b"{}"


@pytest.mark.parametrize(
    "first",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: y\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_framings_keep_the_connection(make_server, first: bytes) -> None:  # type: ignore[no-untyped-def]
    server = make_server([first, b"HTTP/1.1 204 No Content\r\n\r\n"])
    transport = transport_for(server)
    assert post(transport) in (200, 202)
    assert post(transport) == 204
    assert server.connections == 1


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\n\r\nbody until close",
    ],
)
def test_connection_not_reused_when_server_says_so(make_server, response: bytes) -> None:  # type: ignore[no-untyped-def]
    server = make_server([response, b"HTTP/1.1 204 No Content\r\n\r\n"], close_after=True)
    transport = transport_for(server)
    assert post(transport) == 200
    assert post(transport) == 204
    assert server.connections == 2


@pytest.mark.parametrize("garbage", [b"SPDY/9 what\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n"])
def test_malformed_responses_raise_transport_error(make_server, garbage: bytes) -> None:  # type: ignore[no-untyped-def]
    server = make_server([garbage])
    with pytest.raises(TransportError, match="malformed status line"):
        post(transport_for(server))


def test_deadline_bounds_a_silent_server() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        transport = HttpTransport(f"http://127.0.0.1:{sock.getsockname()[1]}", headers={})
        started = time.monotonic()
        with pytest.raises(TransportError):
            transport.post("bundle", b"{}", {}, time.monotonic() + 0.2)
        assert time.monotonic() - started < 0.4
    finally:
        sock.close()


def test_connect_opens_ahead_of_the_first_post(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server([b"HTTP/1.1 204 No Content\r\n\r\n"])
    transport = transport_for(server)
    transport.connect(time.monotonic() + 1)
    deadline = time.monotonic() + 1
    while server.connections == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.connections == 1
    assert post(transport) == 204
    assert server.connections == 1


class StreamingServer(SocketServer):
    """Answers the first request with ``head`` and then ``body`` for as long as the client
    reads, without ever ending it: a backend flooding its response."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.head, self.body = head, body
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._flood, args=(conn,), daemon=True).start()

    def _flood(self, conn: socket.socket) -> None:
        with conn:
            if not read_request(conn):
                return
            try:
                conn.sendall(self.head)
                while True:
                    conn.sendall(self.body)
            except OSError:
                return


@pytest.mark.parametrize(
    "head, body",
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"4000\r\n" + b"x" * 0x4000 + b"\r\n",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"f" * 65536),  # no CRLF ever
        (b"HTTP/1.1 200 OK\r\n", b"X-Flood: " + b"y" * 65536),  # a head without end
    ],
    ids=["chunks", "size-line", "head"],
)
def test_a_flooded_response_is_capped_not_read_until_the_deadline(head: bytes, body: bytes) -> None:
    server = StreamingServer(head, body)
    try:
        transport = HttpTransport(f"http://127.0.0.1:{server.port}", headers={})
        started = time.monotonic()
        try:
            status = transport.post("bundle", b"{}", {}, started + 10)
        except TransportError as exc:
            status = 0
            assert "too large" in str(exc)
        # Capped at about a MiB: far from the 10 s deadline an unbounded read would run into.
        assert time.monotonic() - started < 5
        assert status in (0, 200)
        assert transport._conn is None  # the rest of the flood is never read: connection closed
    finally:
        server.close()


def header_lines(request: bytes) -> List[bytes]:
    return request.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]


@pytest.mark.parametrize(
    "host_id",
    [
        "arn:aws:lambda:eu-west-1:1:function:f\r\nX-Injected: 1",
        "arn:aws:lambda:eu-west-1:1:function:f\n\nGET / HTTP/1.1",
        "arn:aws:lambda:eu-west-1:1:function:f\u2028",
        "arn:aws:lambda:eu-west-1:1:function:f\u00e9\u4e2d\x00",
    ],
)
def test_bad_header_values_are_escaped_and_the_request_still_goes(
    make_server, host_id: str
) -> None:  # type: ignore[no-untyped-def]
    server = make_server([b"HTTP/1.1 204 No Content\r\n\r\n"])
    transport = transport_for(server)
    status = transport.post("bundle", b"{}", {"X-Instana-Host": host_id}, time.monotonic() + 2)
    assert status == 204
    (request,) = server.requests
    lines = header_lines(request)
    assert request.isascii()
    assert not any(line.startswith((b"X-Injected", b"GET ")) for line in lines)
    (host_line,) = [line for line in lines if line.startswith(b"X-Instana-Host:")]
    assert host_line.startswith(b"X-Instana-Host: arn:aws:lambda:eu-west-1:1:function:f%")
    assert b"X-Instana-Key: k" in lines  # every other header as it was


def test_a_non_latin1_endpoint_path_is_escaped(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server([b"HTTP/1.1 204 No Content\r\n\r\n"])
    transport = HttpTransport(f"http://127.0.0.1:{server.port}/b\u00e4se \u4e2d", headers={})
    assert post(transport) == 204
    assert server.requests[0].startswith(b"POST /b%C3%A4se%20%E4%B8%AD/bundle HTTP/1.1\r\n")
