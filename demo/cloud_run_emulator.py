"""Cloud Run's front end for one instance, with request-based billing's CPU throttling.

A loopback HTTP proxy in front of a real server (gunicorn, uvicorn, functions-framework) that
was started in a process group of its own. Like the platform, which allocates CPU to an
instance only while it has a request in flight, the proxy stops the server's whole process
group (``SIGSTOP``) the moment the last in-flight request's response is complete, and resumes
it (``SIGCONT``) when the next request arrives, before passing that request on. Whatever the
server still had to do after its response (a send that starts after the last byte, a
background thread) stays frozen until then, as ``demo/lambda_runtime.py`` freezes the Lambda
sandbox between invocations.

``throttle=False`` is a service with CPU always allocated (instance-based billing): the proxy
only forwards.

    with CloudRunEmulator(server_port, server.pid) as front:
        urllib.request.urlopen(front.url + "/")
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

# Hop-by-hop headers (RFC 9110 §7.6.1) and the framing the proxy redoes itself.
_NOT_FORWARDED = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    )
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client or server hanging up mid-request (a test ending, an instance stopping) is
        # normal for a front end; anything else is still printed.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class CloudRunEmulator:
    """Forwards 127.0.0.1:``port`` to the server on ``upstream_port``, freezing ``pgid``
    while no request is in flight (when ``throttle``)."""

    def __init__(self, upstream_port: int, pgid: int, *, throttle: bool = True) -> None:
        self.upstream_port = upstream_port
        self.pgid = pgid
        self.throttle = throttle
        self.freezes = 0  # how often the instance was stopped
        self.in_flight = 0
        self.frozen = False
        self._lock = threading.Lock()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _proxy(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = [
                    (name, value)
                    for name, value in self.headers.items()
                    if name.lower() not in _NOT_FORWARDED
                ]
                status, reason, answer_headers, answer = emulator.forward(
                    self.command, self.path, headers, body
                )
                self.send_response(status, reason)
                for name, value in answer_headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _proxy

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forward(
        self, method: str, path: str, headers: List[Tuple[str, str]], body: Any
    ) -> Tuple[int, str, List[Tuple[str, str]], bytes]:
        """One request through the instance: resumed first, frozen again right after the
        last byte of the server's response if no other request is in flight."""
        with self._lock:
            self.in_flight += 1
            if self.frozen:
                os.killpg(self.pgid, signal.SIGCONT)
                self.frozen = False
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        done = False
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            answer = response.read()  # the response is complete once this returns
            self._done()  # at once: the platform does not wait for anything else either
            done = True
            kept = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in _NOT_FORWARDED
            ]
            return response.status, response.reason, kept, answer
        finally:
            if not done:
                self._done()
            conn.close()

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1
            if self.throttle and self.in_flight == 0:
                os.killpg(self.pgid, signal.SIGSTOP)
                self.frozen = True
                self.freezes += 1

    def resume(self, *, throttle: Optional[bool] = None) -> None:
        """Let the instance run again (before stopping it, or to inspect it); ``throttle``
        changes whether later requests freeze it again."""
        with self._lock:
            if throttle is not None:
                self.throttle = throttle
            if self.frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pgid, signal.SIGCONT)
                self.frozen = False

    def __enter__(self) -> CloudRunEmulator:
        self._thread.start()
        with self._lock:  # an instance waiting for its first request gets no CPU either
            if self.throttle and self.in_flight == 0 and not self.frozen:
                os.killpg(self.pgid, signal.SIGSTOP)
                self.frozen = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.resume(throttle=False)  # a stopped process group would never see SIGTERM


@contextlib.contextmanager
def instance(
    argv: Sequence[str],
    env: Mapping[str, str],
    port: int,
    *,
    throttle: bool = True,
    cwd: Optional[str] = None,
) -> Iterator[CloudRunEmulator]:
    """``argv`` (a server listening on ``port``) started in a process group of its own, served
    behind a ``CloudRunEmulator``; resumed and stopped when the block ends."""
    from demo.harness import listening

    # a process group of its own: what the emulator stops and resumes
    with (
        listening(argv, port, env, argv[0], cwd=cwd, new_session=True) as proc,
        CloudRunEmulator(port, proc.pid, throttle=throttle) as front,
    ):
        yield front
