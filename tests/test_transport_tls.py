"""https through a CONNECT proxy, and the CA check, with a real TLS server on loopback."""

from __future__ import annotations

import base64
import select
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple

import pytest

import instana_serverless as instana
from instana_serverless.client import Client
from instana_serverless.transport import tls
from instana_serverless.transport.endpoint import (
    EndpointError,
    parse_endpoint,
    proxy_authorization,
)
from instana_serverless.transport.http import HttpTransport, TransportError

from .conftest import AGENT_KEY
from .modules import modules_loaded_by
from .raw_server import SocketServer, read_request
from .tls_ca import BundleBackend, LoopbackCA, make_self_signed, make_test_ca


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


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
def backend(certificate: Tuple[Path, Path]) -> Iterator[BundleBackend]:
    server = BundleBackend(*certificate)
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
    backend: BundleBackend, proxy: ConnectProxy
) -> None:
    report_through_proxy(f"https://localhost:{backend.port}/base", f"http://127.0.0.1:{proxy.port}")
    assert backend.paths == ["/base/bundle"]
    assert proxy.tunnels == [f"localhost:{backend.port}"]


def test_self_signed_certificate_refused_with_ca_check(backend: BundleBackend) -> None:
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


def test_proxy_credentials_go_to_the_proxy_only(
    backend: BundleBackend, proxy: ConnectProxy
) -> None:
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


# -- verification on by default, against a test CA trusted the way system roots are ---------


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    return make_test_ca(tmp_path_factory.mktemp("other-ca"))


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Point OpenSSL's default roots at the given directory or file, as a system would."""

    def set_roots(*, directory: Optional[Path] = None, file: Optional[Path] = None) -> None:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        if directory is not None:
            monkeypatch.setenv("SSL_CERT_DIR", str(directory))
        if file is not None:
            monkeypatch.setenv("SSL_CERT_FILE", str(file))
        tls._contexts.clear()  # the process keeps one context; these tests change the roots

    yield set_roots
    tls._contexts.clear()
    instana.configure(environ={})


def deliver(url: str) -> Client:
    client = instana.configure(
        instana.Options(endpoint_url=url, agent_key=AGENT_KEY, timeout_ms=2000), environ={}
    )
    with instana.entry_span("job", flush=False):
        pass
    client.flush()
    return client


def test_https_verified_against_roots_read_lazily_from_a_hashed_dir(
    test_ca: LoopbackCA, trust: Callable[..., None]
) -> None:
    trust(directory=test_ca.hashed_dir)
    assert tls.client_context(True).cert_store_stats()["x509"] == 0  # nothing parsed up front
    backend = BundleBackend(test_ca.cert, test_ca.key)
    try:
        client = deliver(f"https://localhost:{backend.port}")
        assert backend.paths == ["/bundle"] and len(client.buffer) == 0
        assert tls.client_context(True).cert_store_stats()["x509"] == 1  # the one it needed
    finally:
        backend.close()


def test_https_verified_against_a_bundle_file(
    test_ca: LoopbackCA, trust: Callable[..., None]
) -> None:
    trust(file=test_ca.ca_cert)
    backend = BundleBackend(test_ca.cert, test_ca.key)
    try:
        client = deliver(f"https://127.0.0.1:{backend.port}")
        assert backend.paths == ["/bundle"] and len(client.buffer) == 0
    finally:
        backend.close()


@pytest.mark.parametrize("layout", ["directory", "file"])
def test_a_certificate_from_another_ca_is_refused(
    test_ca: LoopbackCA, other_ca: LoopbackCA, trust: Callable[..., None], layout: str
) -> None:
    trust(**{layout: test_ca.hashed_dir if layout == "directory" else test_ca.ca_cert})
    backend = BundleBackend(other_ca.cert, other_ca.key)
    try:
        client = deliver(f"https://localhost:{backend.port}")
        assert backend.paths == [] and len(client.buffer) == 1  # refused, kept for later
    finally:
        backend.close()


def test_a_certificate_for_another_host_is_refused(
    test_ca: LoopbackCA, trust: Callable[..., None]
) -> None:
    trust(directory=test_ca.hashed_dir)
    # The certificate names localhost and 127.0.0.1; the endpoint is 127.0.0.2.
    backend = BundleBackend(test_ca.cert, test_ca.key, host="127.0.0.2")
    try:
        client = deliver(f"https://127.0.0.2:{backend.port}")
        assert backend.paths == [] and len(client.buffer) == 1
    finally:
        backend.close()


def test_an_https_flush_imports_neither_ssl_nor_socket(test_ca: LoopbackCA) -> None:
    backend = BundleBackend(test_ca.cert, test_ca.key)
    code = (
        "import os\n"
        "os.environ.pop('SSL_CERT_FILE', None)\n"
        f"os.environ['SSL_CERT_DIR'] = {str(test_ca.hashed_dir)!r}\n"
        "import instana_serverless as instana\n"
        "client = instana.configure(instana.Options(\n"
        f"    endpoint_url='https://localhost:{backend.port}', agent_key='k'), environ={{}})\n"
        "with instana.entry_span('job'):\n"
        "    pass\n"
        "assert len(client.buffer) == 0\n"
    )
    try:
        loaded = modules_loaded_by(
            code, ("ssl", "socket", "selectors", "encodings.idna", "http.client", "_ssl")
        )
    finally:
        backend.close()
    assert backend.paths == ["/bundle"]
    assert loaded == ["_ssl"]


def test_a_tls_handshake_that_never_completes_is_bounded_by_the_deadline() -> None:
    silent = socket.socket()  # accepts connections (the kernel does) and never speaks TLS
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        transport = HttpTransport(f"https://127.0.0.1:{silent.getsockname()[1]}", headers={})
        started = time.monotonic()
        with pytest.raises(TransportError):
            transport.post("bundle", b"{}", {}, started + 0.2)
        # Bounded by the deadline; the slack absorbs a loaded 2-core machine, not a hang.
        assert time.monotonic() - started < 0.2 + 0.15
    finally:
        silent.close()
