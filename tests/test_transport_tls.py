"""https through a CONNECT proxy, and the CA check, with a real TLS server on loopback."""

from __future__ import annotations

import base64
import http.server
import select
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

import instana_serverless as instana
from instana_serverless.transport.endpoint import (
    EndpointError,
    parse_endpoint,
    proxy_authorization,
)

from .conftest import AGENT_KEY
from .raw_server import SocketServer, read_request


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsBackend:
    def __init__(self, cert: Path, key: Path) -> None:
        self.paths: List[str] = []
        self.header_names: List[str] = []
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                backend.paths.append(self.path)
                backend.header_names.extend(self.headers.keys())
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ConnectProxy(SocketServer):
    """A minimal CONNECT proxy that records the tunnels it opened."""

    def __init__(self) -> None:
        self.tunnels: List[str] = []
        self.authorizations: List[str] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        head = read_request(client)
        if not head:
            client.close()
            return
        target = head.split(b" ")[1].decode()
        self.tunnels.append(target)
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "proxy-authorization":
                self.authorizations.append(value.strip())
        host, _, port = target.rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        sockets = [client, upstream]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 5)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        finally:
            client.close()
            upstream.close()


@pytest.fixture
def backend(certificate: Tuple[Path, Path]) -> Iterator[TlsBackend]:
    server = TlsBackend(*certificate)
    yield server
    server.close()
    instana.configure(environ={})


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    yield server
    server.close()


def report_through_proxy(endpoint_url: str, proxy_url: str) -> None:
    """One span flushed to ``endpoint_url`` through ``proxy_url``, the CA check off."""
    instana.configure(
        environ={
            "INSTANA_ENDPOINT_URL": endpoint_url,
            "INSTANA_AGENT_KEY": AGENT_KEY,
            "INSTANA_ENDPOINT_PROXY": proxy_url,
            "INSTANA_DISABLE_CA_CHECK": "true",
        }
    )
    with instana.entry_span("job"):
        pass


def test_https_through_connect_proxy_without_ca_check(
    backend: TlsBackend, proxy: ConnectProxy
) -> None:
    report_through_proxy(f"https://localhost:{backend.port}/base", f"http://127.0.0.1:{proxy.port}")
    assert backend.paths == ["/base/bundle"]
    assert proxy.tunnels == [f"localhost:{backend.port}"]


def test_self_signed_certificate_refused_with_ca_check(backend: TlsBackend) -> None:
    client = instana.configure(
        environ={
            "INSTANA_ENDPOINT_URL": f"https://localhost:{backend.port}",
            "INSTANA_AGENT_KEY": AGENT_KEY,
        }
    )
    with instana.entry_span("job", flush=False):
        pass
    assert client.flush() is False
    assert backend.paths == []
    assert len(client.buffer) == 1  # kept for a later flush


def test_proxy_credentials_go_to_the_proxy_only(backend: TlsBackend, proxy: ConnectProxy) -> None:
    report_through_proxy(
        f"https://localhost:{backend.port}", f"http://corp%40user:p%3Ass@127.0.0.1:{proxy.port}"
    )
    assert backend.paths == ["/bundle"]
    expected = "Basic " + base64.b64encode(b"corp@user:p:ss").decode()
    assert proxy.authorizations == [expected]
    assert all("authorization" not in name.lower() for name in backend.header_names)


def test_a_plain_http_proxy_may_be_remote_but_the_endpoint_may_not() -> None:
    proxy = parse_endpoint("http://proxy.corp.example:3128", "INSTANA_ENDPOINT_PROXY", proxy=True)
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy.corp.example", 3128)
    with pytest.raises(EndpointError, match="INSTANA_ENDPOINT_URL"):
        parse_endpoint("http://backend.corp.example")
    assert proxy_authorization("http://proxy:3128") is None
