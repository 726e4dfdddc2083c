"""Tiny HTTP services on 127.0.0.1: the Lambda Runtime API emulator (``lambda_runtime``) is built
on them, and so are the demo's stand-ins for what its functions talk to and the tests'
emulators (metadata servers, downstream services)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Dict[str, str]  # names lower-cased
    raw_headers: List[Tuple[str, str]]  # as sent, in order
    body: bytes


# (status, body, response headers); None sends nothing and leaves the client waiting.
Reply = Tuple[int, bytes, Mapping[str, str]]
Respond = Callable[[Request], Optional[Reply]]

# (status, JSON body, extra response headers) for a GET of a path with the request headers.
Answer = Callable[[str, Mapping[str, str]], Tuple[int, Any, Mapping[str, str]]]

_Server = TypeVar("_Server", bound="LoopbackServer")


def json_reply(status: int, body: Any, headers: Optional[Mapping[str, str]] = None) -> Reply:
    payload = json.dumps(body).encode()
    return status, payload, {"Content-Type": "application/json", **(headers or {})}


class LoopbackServer:
    """HTTP/1.1 on 127.0.0.1, served from a thread of its own while in a ``with`` block;
    ``respond`` answers every GET, POST and PUT."""

    def __init__(self, respond: Respond) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # small answers on kept-alive connections

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one_request(self) -> None:
                # Acknowledge what arrives at once: a client that writes a request in two
                # segments would otherwise wait out Linux's 40 ms delayed ACK before the second.
                # The kernel drops the mode again after a while, so it is set per request.
                with contextlib.suppress(OSError, AttributeError):
                    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                super().handle_one_request()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    raw_headers=list(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                reply = respond(request)
                if reply is None:
                    return
                status, payload, headers = reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: leaving the ``with`` block waits for the serving loop to notice.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def __enter__(self: _Server) -> _Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class JsonService(LoopbackServer):
    """Answers GETs with JSON from ``answer`` and remembers each request's path and headers."""

    def __init__(self, answer: Answer) -> None:
        self.requests: List[Tuple[str, Dict[str, str]]] = []

        def respond(request: Request) -> Reply:
            self.requests.append((request.path, request.headers))
            return json_reply(*answer(request.path, request.headers))

        super().__init__(respond)
