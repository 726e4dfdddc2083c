"""A local stand-in for the Instana serverless backend: accepts, validates and records bundles."""

from __future__ import annotations

import argparse
import contextlib
import hmac
import ipaddress
import json
import signal
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Callable, Dict, List, Optional, TextIO, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

from . import ui
from .profiles import PROFILES_PATH, ProfileStore, validate_profiles
from .tree import printable, render_traces
from .validate import validate_bundle

MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_OUTPUT = str(Path("out") / "instana-bundles.jsonl")
# Beyond this an oversized body is not worth draining; the connection is closed instead.
_MAX_DRAIN_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024
_MAX_REASONS = 20
_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"

Reply = Tuple[int, str, str]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # listen() backlog: the default 5 makes a burst of reporters (many functions flushing at
    # once) wait for SYN retries of a second or more.
    request_queue_size = 128

    def __init__(self, address: Tuple[str, int], acceptor: Acceptor) -> None:
        self.acceptor = acceptor
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-request (a reporter's deadline, a test's abrupt close) is
        # normal for a backend; anything else is still printed.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        # Kept-alive connections would otherwise outlive stop() and keep answering.
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Idle kept-alive connections are dropped eventually instead of holding a thread forever.
    timeout = 120

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.acceptor.verbose:
            sys.stderr.write(
                printable(
                    f"{self.address_string()} - - [{self.log_date_time_string()}] {format % args}"
                )
                + "\n"
            )

    def do_GET(self) -> None:
        self._handle(self._route_get)

    def do_POST(self) -> None:
        self._handle(self._route_post)

    def do_PUT(self) -> None:
        self._handle(self._not_allowed)

    def do_PATCH(self) -> None:
        self._handle(self._not_allowed)

    def do_DELETE(self) -> None:
        self._handle(self._not_allowed)

    def do_OPTIONS(self) -> None:
        self._handle(self._not_allowed)

    def _handle(self, route: Any) -> None:
        acceptor = self.server.acceptor
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply: Optional[Reply] = route(headers)
        except Exception as exc:
            print(
                printable(f"acceptor: error handling {self.command} {self.path}"), file=sys.stderr
            )
            traceback.print_exc(file=sys.stderr)
            # The request body may be half read; the connection cannot be trusted any more.
            self.close_connection = True
            reply = (500, f"internal error: {type(exc).__name__}: {exc}\n", _TEXT)
        if reply is None:  # the client went away mid-request
            self.close_connection = True
            return
        # The trace view polls every second; a log of its own requests would only grow.
        if not (acceptor.ui and self.command == "GET" and ui.serves(urlsplit(self.path).path)):
            record: Dict[str, Any] = {"path": self.path, "headers": headers, "status": reply[0]}
            if self.command == "POST" and reply[0] >= 400:
                reason = reply[1].strip()
                record["reason"] = reason
                acceptor._refused(reply[0], reason, self.path, headers)
            acceptor._record(record)
        try:
            self._reply(*reply)
        except OSError:
            self.close_connection = True

    def _reply(self, status: int, body: str, content_type: str) -> None:
        self.send_response(status)
        if status == 204:
            self.end_headers()
            return
        payload = body.encode("utf-8")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _content_length(self, headers: Dict[str, str]) -> Union[int, Reply]:
        if "transfer-encoding" in headers:
            self.close_connection = True
            return (411, "Content-Length required (chunked bodies are not supported)\n", _TEXT)
        raw = headers.get("content-length")
        if raw is None:
            return 0
        try:
            length = int(raw)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return (400, f"invalid Content-Length: {raw!r}\n", _TEXT)
        return length

    def _discard_body(self, headers: Dict[str, str]) -> Optional[Reply]:
        """Reads and drops the body so the connection can carry the next request."""
        length = self._content_length(headers)
        if not isinstance(length, int):
            return length
        if length > _MAX_DRAIN_BYTES:
            self.close_connection = True
            return None
        while length > 0:
            chunk = self.rfile.read(min(length, _CHUNK))
            if not chunk:
                self.close_connection = True
                break
            length -= len(chunk)
        return None

    def _not_allowed(self, headers: Dict[str, str]) -> Reply:
        return self._discard_body(headers) or (405, "method not allowed\n", _TEXT)

    def _route_get(self, headers: Dict[str, str]) -> Reply:
        url = urlsplit(self.path)
        path = url.path
        if path == "/health":
            return (200, "ok\n", _TEXT)
        if path.startswith("/api/"):
            refused = self.server.acceptor.refuse_reading(headers, url.query)
            if refused is not None:
                return refused
        if path == "/api/bundles":
            return (200, json.dumps(self.server.acceptor.bundles), _JSON)
        if path == PROFILES_PATH:
            return (200, json.dumps(self.server.acceptor.profiles.snapshot()), _JSON)
        if self.server.acceptor.ui:
            page = ui.route(path, self.server.acceptor.spans(), self.server.acceptor.refusals())
            if page is not None:
                return page
        if path.endswith("/bundle"):
            return (405, "use POST for bundles\n", _TEXT)
        return (404, f"not found: {path}\n", _TEXT)

    def _route_post(self, headers: Dict[str, str]) -> Optional[Reply]:
        path = urlsplit(self.path).path
        acceptor = self.server.acceptor
        if path.endswith("/profiles"):
            # AutoProfile profiles: a local-only extension (see ``profiles``).
            return self._receive(headers, "profiles", validate_profiles, acceptor._add_profiles)
        if not path.endswith("/bundle"):
            return self._discard_body(headers) or (404, f"not found: {path}\n", _TEXT)
        return self._receive(
            headers,
            "bundle",
            validate_bundle,
            lambda bundle: acceptor._accept(bundle, headers),
            misbehave=True,
        )

    def _receive(
        self,
        headers: Dict[str, str],
        what: str,
        validate: Callable[[Any], List[str]],
        accept: Callable[[Any], None],
        misbehave: bool = False,
    ) -> Optional[Reply]:
        """Read, check and ``accept`` a JSON document; the reply (None: the client went away).
        ``misbehave``: the delay and status override asked for apply."""
        length = self._content_length(headers)
        if not isinstance(length, int):
            return length
        if length > MAX_BODY_BYTES:
            too_big = (413, f"{what} of {length} bytes: the limit is {MAX_BODY_BYTES}\n", _TEXT)
            return self._discard_body(headers) or too_big
        try:
            body = self.rfile.read(length)
        except OSError:
            return None
        if len(body) < length:
            return None

        acceptor = self.server.acceptor
        if misbehave:
            if acceptor.delay_s > 0:
                time.sleep(acceptor.delay_s)
            override = acceptor.status_override
            if override is not None:
                return (override, f"status override {override}\n", _TEXT)
        if acceptor.key is not None and headers.get("x-instana-key") != acceptor.key:
            return (401, "missing or wrong X-Instana-Key\n", _TEXT)
        try:
            document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            return (400, "invalid JSON: body is not UTF-8\n", _TEXT)
        except (ValueError, RecursionError) as exc:
            return (400, f"invalid JSON: {exc}\n", _TEXT)
        problems = validate(document)
        if problems:
            shown = problems[:_MAX_REASONS]
            if len(problems) > len(shown):
                shown.append(f"... and {len(problems) - len(shown)} more")
            return (400, f"invalid {what}: " + "; ".join(shown) + "\n", _TEXT)
        accept(document)
        return (204, "", _TEXT)


class Acceptor:
    """An HTTP server on loopback that accepts ``POST .../bundle`` like the Instana backend,
    validates and records every bundle, and can misbehave on purpose for tests."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        key: Optional[str] = None,
        output: Union[str, Path, None] = None,
        echo: Optional[TextIO] = None,
        delay_s: float = 0.0,
        status_override: Optional[int] = None,
        verbose: bool = False,
        ui: bool = False,
        refusal_log: Optional[TextIO] = None,
    ) -> None:
        """``refusal_log``: where each refused POST is printed (default stderr)."""
        self.host = host
        self.port = port
        self.key = key
        self.output = Path(output) if output is not None else None
        if self.output is not None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self.delay_s = delay_s
        self.status_override = status_override
        self.verbose = verbose
        self.ui = ui
        self._changed = threading.Condition()
        self._bundles: List[Dict[str, Any]] = []
        self._requests: List[Dict[str, Any]] = []
        self._write_lock = threading.Lock()
        self.profiles = ProfileStore()
        # Refused POSTs: (status, reason) -> [count, the last sender's Host header].
        self._refusals: Dict[Tuple[int, str], List[Any]] = {}
        self.refusal_log: Optional[TextIO] = sys.stderr if refusal_log is None else refusal_log
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def loopback(self) -> bool:
        """Bound to a loopback address only: what it recorded is readable from this host only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name, "" or "0.0.0.0": reachable from elsewhere
            return False

    def refuse_reading(self, headers: Dict[str, str], query: str) -> Optional[Reply]:
        """Why recorded data (``/api/*``) is not served to this request, or None if it is.

        On loopback anyone may read it; bound to a network address it takes the key, in
        ``X-Instana-Key`` or a ``key`` query parameter (the trace view passes its own on).
        """
        if self.loopback:
            return None
        if self.key is None:
            return (403, "recorded data is served over the network only with --key\n", _TEXT)
        offered = headers.get("x-instana-key")
        if offered is None:
            offered = next((value for name, value in parse_qsl(query) if name == "key"), None)
        if offered is None or not hmac.compare_digest(offered.encode(), self.key.encode()):
            return (401, "missing or wrong X-Instana-Key\n", _TEXT)
        return None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Acceptor:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), self)
        # Keep the bound port so a restarted acceptor comes back at the same URL.
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"instana-acceptor-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Acceptor:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def _add_profiles(self, profiles: Any) -> None:
        self.profiles.add(profiles)
        with self._changed:
            self._changed.notify_all()

    @property
    def bundles(self) -> List[Dict[str, Any]]:
        with self._changed:
            return list(self._bundles)

    @property
    def requests(self) -> List[Dict[str, Any]]:
        with self._changed:
            return list(self._requests)

    def spans(self) -> List[Dict[str, Any]]:
        with self._changed:
            return self._spans()

    def wait_for_spans(self, count: int, timeout: float = 5.0) -> List[Dict[str, Any]]:
        """Blocks until at least ``count`` spans were accepted; returns all accepted spans."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._spans()) >= count, timeout):
                raise TimeoutError(
                    f"expected at least {count} spans within {timeout}s, got "
                    f"{len(self._spans())} in {len(self._bundles)} bundles "
                    f"({len(self._requests)} requests)"
                )
            return self._spans()

    def refusals(self) -> List[Dict[str, Any]]:
        """Every distinct refusal so far: status, reason, how often, the last sender's Host."""
        with self._changed:
            return [
                {"status": status, "reason": reason, "count": count, "host": host}
                for (status, reason), (count, host) in self._refusals.items()
            ]

    def _refused(self, status: int, reason: str, path: str, headers: Dict[str, str]) -> None:
        host = headers.get("host", "?")
        with self._changed:
            entry = self._refusals.setdefault((status, reason), [0, host])
            entry[0] += 1
            entry[1] = host
        log = self.refusal_log
        if log is None:
            return
        sender = headers.get("x-instana-host")
        line = f"acceptor: refused POST {path} with {status}: {reason} (Host: {host}"
        line += f", X-Instana-Host: {sender})" if sender else ")"
        try:
            with self._write_lock:
                log.write(printable(line) + "\n")
                log.flush()
        except Exception:  # a closed terminal must not fail the reply
            pass

    def clear(self) -> None:
        with self._changed:
            self._bundles.clear()
            self._requests.clear()
            self._refusals.clear()
        self.profiles.clear()

    def _spans(self) -> List[Dict[str, Any]]:
        return [span for bundle in self._bundles for span in bundle.get("spans") or []]

    def _record(self, request: Dict[str, Any]) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _accept(self, bundle: Dict[str, Any], headers: Dict[str, str]) -> None:
        # Everything that can fail runs before the bundle is stored: a bundle answered with
        # 500 is sent again by the reporter, and must not then be recorded twice.
        text = self._rendered(bundle, headers) if self.echo is not None else ""
        if self.output is not None:
            line = json.dumps(bundle, separators=(",", ":")) + "\n"
            with self._write_lock, self.output.open("a", encoding="utf-8") as file:
                file.write(line)
        with self._changed:
            self._bundles.append(bundle)
            self._changed.notify_all()
        if self.echo is not None:
            self._print(text)

    @staticmethod
    def _rendered(bundle: Dict[str, Any], headers: Dict[str, str]) -> str:
        spans = bundle.get("spans") or []
        plugins = (bundle.get("metrics") or {}).get("plugins") or []
        host = headers.get("x-instana-host", "?")
        text = printable(f"bundle from {host}: {len(spans)} spans, {len(plugins)} plugins") + "\n"
        try:
            return text + render_traces(spans)
        except Exception as exc:  # the tree is for humans: a bug in it must not cost the bundle
            return (
                text + printable(f"  (cannot draw the trees: {type(exc).__name__}: {exc})") + "\n"
            )

    def _print(self, text: str) -> None:
        try:
            with self._write_lock:
                assert self.echo is not None
                self.echo.write(text)
                self.echo.flush()
        except Exception as exc:  # a closed or broken terminal must not fail a stored bundle
            print(f"acceptor: cannot print bundle: {exc}", file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8989, help="port, 0 for any (default 8989)")
    parser.add_argument("--key", default=None, help="agent key to require (default: any)")
    parser.add_argument(
        "--output",
        default=DEFAULT_OUTPUT,
        help=f"JSON-lines file accepted bundles go to (default {DEFAULT_OUTPUT}, a folder git "
        "ignores in this repository)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print span trees")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--ui", action="store_true", help="also serve a trace view at /")


def serve(args: argparse.Namespace) -> int:
    """Runs an acceptor in the foreground until Ctrl-C or SIGTERM."""
    acceptor = Acceptor(
        host=args.host,
        port=args.port,
        key=args.key,
        output=args.output,
        echo=None if args.quiet else sys.stdout,
        verbose=args.verbose,
        ui=args.ui,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stopping.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        acceptor.start()
    except OSError as exc:
        print(f"acceptor: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        signal.signal(signal.SIGTERM, previous)
        return 1
    print(f"acceptor listening on {acceptor.url}/bundle, writing to {args.output}", flush=True)
    if not acceptor.loopback:
        print(
            "acceptor: reachable from the network; recorded data (/api/*) is served "
            + ("only with the key" if acceptor.key else "to nobody until you pass --key"),
            flush=True,
        )
    if args.ui:
        print(f"trace view at {acceptor.url}/", flush=True)
    try:
        # A timed wait keeps the main thread responsive to signals on every platform.
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        acceptor.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0
