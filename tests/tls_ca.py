"""A throwaway certificate authority for https on loopback, made with the ``openssl`` CLI at run
time: the CA, a server certificate it signed for ``localhost`` and ``127.0.0.1``, and the CA
in a hashed directory (the layout ``SSL_CERT_DIR`` and Debian's ``/etc/ssl/certs`` use); also a
self-signed certificate that no CA vouches for.

Shared by the TLS tests and ``bench/https.py``; nothing here is a mock: clients verify the
server's certificate against this CA exactly as they would against a public one.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any, List, NamedTuple, Optional, Tuple


class LoopbackCA(NamedTuple):
    ca_cert: Path  # the CA's certificate (PEM)
    cert: Path  # the server's certificate, signed by the CA
    key: Path  # the server's private key
    hashed_dir: Path  # a directory holding only the CA, under its subject hash


def _openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], check=True, capture_output=True, text=True)
    return done.stdout


_NEW_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def make_self_signed(folder: Path) -> Tuple[Path, Path]:
    """(certificate, key) for ``localhost`` that no CA vouches for."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "self-signed.pem", folder / "self-signed.key"
    _openssl(
        "req", "-x509", *_NEW_EC_KEY, "-days", "1", "-subj", "/CN=localhost",
        "-keyout", str(key), "-out", str(cert),
    )  # fmt: skip
    return cert, key


def make_test_ca(folder: Path) -> LoopbackCA:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = folder / "ca.key", folder / "ca.pem"
    key, csr, cert = folder / "server.key", folder / "server.csr", folder / "server.pem"
    ec = _NEW_EC_KEY
    _openssl(
        "req", "-x509", *ec, "-days", "2", "-subj", "/CN=instana-serverless test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(ca_key), "-out", str(ca_cert),
    )  # fmt: skip
    _openssl("req", "-new", *ec, "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    extensions = folder / "server.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    hashed_dir = folder / "hashed"
    hashed_dir.mkdir(exist_ok=True)
    subject_hash = _openssl("x509", "-hash", "-noout", "-in", str(ca_cert)).strip()
    (hashed_dir / f"{subject_hash}.0").write_bytes(ca_cert.read_bytes())
    return LoopbackCA(ca_cert, cert, key, hashed_dir)


class BundleBackend:
    """A bundle endpoint on loopback answering every POST with 204 and keeping connections
    alive, over https with ``cert``/``key`` (plain http without); records the request paths
    and header names.

    It sets ``TCP_NODELAY`` on its connections, as production front ends (nginx, Go, envoy)
    do: without it, the TLS 1.3 session tickets it sends after the handshake hold its first
    response back until the client's delayed ACK (~40 ms); ``nodelay=False`` shows that."""

    def __init__(
        self,
        cert: Optional[Path] = None,
        key: Optional[Path] = None,
        *,
        nodelay: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
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

        context: Optional[ssl.SSLContext] = None
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> Tuple[socket.socket, Any]:
                conn, address = self.socket.accept()
                if nodelay:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
                return conn, address

        self.server = Server((host, 0), Handler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
