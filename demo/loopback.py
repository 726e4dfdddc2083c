"""Tiny HTTP services on 127.0.0.1 standing in for what the demo's functions talk to."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Mapping, Tuple

# (status, JSON body, extra response headers) for a GET of a path with the request headers.
Answer = Callable[[str, Mapping[str, str]], Tuple[int, Any, Mapping[str, str]]]


class JsonService:
    """Answers GETs with JSON from ``answer`` and remembers each request's path and headers."""

    def __init__(self, answer: Answer) -> None:
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                service.requests.append((self.path, headers))
                status, body, extra = answer(self.path, headers)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def __enter__(self) -> JsonService:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
