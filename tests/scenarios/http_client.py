"""``urllib.request.urlopen`` and a plain ``http.client.HTTPConnection`` against the loopback
HTTP service."""

from __future__ import annotations

import http.client
import socket
import urllib.request
from typing import Any, Mapping, Optional

from tests.conftest import free_port
from tests.http_service import Downstream
from tests.raw_server import SocketServer, read_request
from tests.scenarios import Scenario
from tests.scenarios.urllib3 import CONTEXT


class HangsUp(SocketServer):
    """Reads a request and closes the connection without answering."""

    def handle(self, conn: socket.socket) -> None:
        read_request(conn)
        conn.close()


class Urlopen(Scenario):
    label = "urllib.request"
    fixture = "downstream"
    imports = ("urllib.request",)
    span_name = "http"
    error_path = ("http",)
    # raised by getresponse, which urlopen lets through unchanged (no URLError around it)
    error = http.client.RemoteDisconnected

    def call(self, target: Downstream) -> Any:
        with urllib.request.urlopen(f"{target.url}/contract?page=1", timeout=5) as response:
            return response.status

    def failing_call(self, target: Downstream) -> Any:
        server = HangsUp()
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{server.port}/down", timeout=5)
        finally:
            server.close()

    def sent_context(self, target: Downstream) -> Optional[Mapping[str, str]]:
        headers = target.requests[-1]["headers"]
        return {k: v for k, v in headers.items() if k in CONTEXT}


class Connection(Urlopen):
    label = "http.client"
    imports = ("http.client",)
    error = ConnectionRefusedError

    def call(self, target: Downstream) -> Any:
        conn = http.client.HTTPConnection(target.address, timeout=5)
        try:
            conn.request("GET", "/contract?page=1")
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def failing_call(self, target: Downstream) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", free_port(), timeout=5)
        try:
            conn.request("GET", "/down")
            return conn.getresponse()
        finally:
            conn.close()


SCENARIOS = [Urlopen(), Connection()]
