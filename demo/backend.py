"""A stand-in for a distant Instana backend: answers every bundle after a delay (as an
endpoint in another region would), or 503 while it is "down". It keeps the spans it accepted,
so tests and benchmarks can count what arrived and when. The acceptor
(``instana_serverless.acceptor``) is the faithful one; this one is about timing and faults."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from demo.loopback import LoopbackServer, Reply, Request


class SlowBackend(LoopbackServer):
    """``tls=(certificate, key)`` serves https (see ``self_signed``)."""

    def __init__(
        self,
        delay_s: float = 0.0,
        key: Optional[str] = None,
        tls: Optional[Tuple[Path, Path]] = None,
    ) -> None:
        self.delay_s = delay_s
        self.key = key
        self.down = False
        self.refused = 0
        self.posts = 0
        self._spans: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(self._respond)
        self.tls = tls is not None
        if tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def spans(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self._spans)

    def span_count(self) -> int:
        return len(self._spans)

    def _respond(self, request: Request) -> Reply:
        if request.method != "POST" or not request.path.endswith("/bundle"):
            return 404, b"", {}
        if self.key is not None and request.headers.get("x-instana-key") != self.key:
            return 401, b"", {}
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.posts += 1
            if self.down:
                self.refused += 1
                return 503, b"", {}
            self._spans.extend(json.loads(request.body).get("spans") or [])
        return 204, b"", {}


def self_signed(folder: Path) -> Tuple[Path, Path]:
    """A throwaway certificate and key for 127.0.0.1 (``openssl``), for an https backend."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command += ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key
