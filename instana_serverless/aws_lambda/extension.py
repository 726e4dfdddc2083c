"""Sends an invocation's spans after Lambda has its response: an internal Lambda extension.

Flushing before the handler returns makes every caller wait for one POST to the Instana
endpoint (a TLS round trip, often to another region). Lambda offers a way out: a process
registered with the Extensions API gets an ``INVOKE`` event per invocation, and Lambda freezes
the sandbox only once the runtime *and* every registered extension have asked for their next
event. So:

1. While the handler is wrapped (the init phase, before the runtime first asks for an
   invocation) we register this process as an *internal* extension for ``INVOKE`` events
   (``POST $AWS_LAMBDA_RUNTIME_API/2020-01-01/extension/register``) and start one daemon thread.
   Nothing else is added to the cold start: no second process, no second interpreter.
2. The thread has a ``.../extension/event/next`` request out; Lambda answers it with the
   ``INVOKE`` event when an invocation starts, but the thread reads it only after step 3, so
   it never wakes (and never takes the GIL) while the handler runs.
3. When the handler returns, the wrapper ends the entry span and *hands the invocation over*
   (by request id) instead of flushing; the runtime posts the response at once.
4. The thread reads the event, flushes, and only then asks for its next event, so Lambda
   cannot freeze the sandbox before the spans have left. ``awslambdaric`` releases the GIL
   while it blocks in its own ``next`` call, so the thread runs while the runtime waits. A
   failed flush keeps the spans in the bounded buffer for the next one, as the flush before
   return does.

Where the Extensions API is absent or refuses the registration (not on Lambda, an older
emulator, a unit test), where the setting ``INSTANA_LAMBDA_EXTENSION`` is off, or where the
wrapped function is not the one the runtime calls (``_HANDLER``), the wrapper flushes before
returning, exactly as without this module. ``mode()`` says which applies and why; so do the
debug log and ``instana-serverless doctor``.

The HTTP client is a few lines over ``_socket``: the Runtime API is plain HTTP/1.1 on loopback,
and ``http.client`` or even ``socket`` (which imports ``enum``) would cost the cold start more
than the whole registration.
"""

from __future__ import annotations

import contextlib
import os
from threading import Condition, Thread
from time import sleep

from .. import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from ..client import Client

EXTENSION_NAME = "instana-serverless"
RUNTIME_API_VARIABLE = "AWS_LAMBDA_RUNTIME_API"
HANDLER_VARIABLE = "_HANDLER"  # the function's handler setting, as the runtime reads it
SETTING = "INSTANA_LAMBDA_EXTENSION"
REGISTER_PATH = "/2020-01-01/extension/register"
NEXT_PATH = "/2020-01-01/extension/event/next"

EXTENSION = "extension"
FLUSH_ON_RETURN = "flush-on-return"

# The registration happens during init, on loopback: a stuck Runtime API must not hold the
# init for long, and falling back costs nothing but latency.
_REGISTER_TIMEOUT_S = 2.0
# After this many failed ``next`` calls in a row the Runtime API is gone (the sandbox is being
# torn down): the thread stops and invocations flush before returning again.
_MAX_NEXT_FAILURES = 5
# Request ids handed over but not yet taken by the thread. Only one invocation runs at a time;
# the bound only keeps a thread that stopped from growing the list.
_MAX_UNCLAIMED = 16
_QUICKACK = 12  # TCP_QUICKACK on Linux


class RuntimeApiError(Exception):
    """The Runtime API could not be reached or answered something unusable."""


class _Connection:
    """HTTP/1.1 over one kept-alive loopback connection to the Runtime API."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeApiError(f"{RUNTIME_API_VARIABLE}={address!r} is not host:port")
        self.host = address
        self._target = (host, int(port))
        self._sock: Any = None

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def _connect(self, timeout: Optional[float]) -> Any:
        import _socket

        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            sock.connect(self._target)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return sock

    def send(
        self,
        method: str,
        path: str,
        headers: Dict[str, str],
        body: bytes = b"",
        timeout: Optional[float] = None,
    ) -> None:
        """Send a request; ``receive`` reads its answer (possibly in another thread).
        ``timeout`` None lets that answer take as long as it takes (a long poll)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            sock = self._sock if self._sock is not None else self._connect(timeout)
            sock.settimeout(timeout)
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise RuntimeApiError(f"{method} {path}: {exc!r}") from None

    def receive(self) -> Tuple[int, Dict[str, str], bytes]:
        """The answer to the request sent last."""
        if self._sock is None:
            raise RuntimeApiError("no request sent")
        try:
            return self._read(self._sock)
        except (OSError, RuntimeApiError, ValueError) as exc:
            self.close()
            raise RuntimeApiError(f"reading the answer: {exc!r}") from None

    def _recv(self, sock: Any) -> bytes:
        with contextlib.suppress(OSError):  # IPPROTO_TCP: answer at once, no delayed ACK
            sock.setsockopt(6, _QUICKACK, 1)
        chunk: bytes = sock.recv(65536)
        if not chunk:
            raise RuntimeApiError("connection closed by the Runtime API")
        return chunk

    def _read(self, sock: Any) -> Tuple[int, Dict[str, str], bytes]:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += self._recv(sock)
            if len(buffer) > 65536:
                raise RuntimeApiError("response head too large")
        head, _, rest = buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise RuntimeApiError(f"malformed status line {status_line[:80]!r}")
        headers: Dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._read_chunked(sock, rest)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            while len(rest) < length:
                rest += self._recv(sock)
            body = rest[:length]
        else:  # delimited by the end of the connection
            body = rest
            try:
                while True:
                    body += self._recv(sock)
            except RuntimeApiError:
                pass
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(parts[1]), headers, body

    def _read_chunked(self, sock: Any, rest: bytes) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += self._recv(sock)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            while len(rest) < size + 2:
                rest += self._recv(sock)
            if size == 0:
                return body
            body += rest[:size]
            rest = rest[size + 2 :]


class Extension:
    """This process, registered as an internal extension: one thread that flushes each
    handed-over invocation and then asks Lambda for the next event."""

    def __init__(self, connection: _Connection, identifier: str) -> None:
        self.identifier = identifier
        self.active = True
        self._connection = connection
        self._cond = Condition()
        self._handed_over: List[str] = []
        self._asked = False  # a ``next`` request is out, its answer not yet read
        self._thread = Thread(target=self._run, name="instana-lambda-extension", daemon=True)

    def start(self) -> None:
        # The init ends when the runtime and every extension have asked for their next event.
        # The first ask is sent from here, so it does not wait for the new thread to get the
        # GIL while the user's own init keeps the main thread busy (measured: ~15 ms).
        with contextlib.suppress(RuntimeApiError):  # if it fails, the thread asks again
            self._send_next()
        self._thread.start()

    def hand_over(self, request_id: Optional[str]) -> bool:
        """The invocation ``request_id`` has ended: its spans are the extension's to send.
        False when the extension no longer runs (the caller then flushes itself)."""
        if not self.active:
            return False
        with self._cond:
            self._handed_over.append(request_id or "")
            del self._handed_over[:-_MAX_UNCLAIMED]
            self._cond.notify()
        return True

    def _wait_for_hand_over(self) -> str:
        with self._cond:
            while not self._handed_over:
                self._cond.wait()
            return self._handed_over.pop(0)

    def _send_next(self) -> None:
        self._connection.send("GET", NEXT_PATH, {"Lambda-Extension-Identifier": self.identifier})
        self._asked = True

    def _read_event(self) -> Dict[str, Any]:
        import json  # the runtime (awslambdaric) has imported it already

        self._asked = False
        status, _, body = self._connection.receive()
        if status != 200:
            raise RuntimeApiError(f"event/next answered {status}: {body[:200]!r}")
        event = json.loads(body)
        if not isinstance(event, dict):
            raise RuntimeApiError(f"event/next sent {body[:200]!r}")
        return event

    def _run(self) -> None:
        failures = 0
        while True:
            try:
                if not self._asked:
                    self._send_next()
                # Lambda answers our ``next`` with the INVOKE event when the invocation
                # starts. It is read only after the hand-over: woken during the handler, this
                # thread would take the GIL from it.
                handed = self._wait_for_hand_over()
                event = self._read_event()
            except Exception as exc:
                failures += 1
                if failures >= _MAX_NEXT_FAILURES:
                    self.active = False
                    _flush_buffered()
                    # A change of sending mode: INFO, like the configuration line.
                    log.logger().info(
                        "Lambda extension stopped (%s); spans are flushed before the handler "
                        "returns from now on (%s mode)",
                        exc,
                        FLUSH_ON_RETURN,
                    )
                    return
                _flush_buffered()  # what was handed over still goes before the next ``next``
                sleep(0.01 * failures)
                continue
            failures = 0
            try:
                if event.get("eventType") == "SHUTDOWN":
                    self.active = False
                    _flush_buffered()
                    return
                if event.get("requestId") != handed:
                    log.logger().debug(
                        "Lambda extension: handed invocation %r over, Lambda sent %r",
                        handed,
                        event.get("requestId"),
                    )
                _flush_buffered()
            except Exception as exc:  # a bug of ours must not stop the next ``next`` call
                log.logger().debug("Lambda extension: %r", exc)


def _flush_buffered() -> None:
    from ..client import get_client

    client = get_client()
    # An invocation whose span the timeout guard already sent leaves nothing to send.
    if len(client.buffer):
        client.flush()


# --- which mode applies --------------------------------------------------------------------

_extension: Optional[Extension] = None
_NOT_DECIDED = "no Lambda handler has been wrapped yet"
_mode: Tuple[str, str] = (FLUSH_ON_RETURN, _NOT_DECIDED)


def mode() -> Tuple[str, str]:
    """(``"extension"`` or ``"flush-on-return"``, why) for this process."""
    ext = _extension
    if ext is not None and not ext.active:
        return FLUSH_ON_RETURN, "the extension stopped (the Runtime API went away)"
    return _mode


def describe_mode() -> str:
    """How spans leave, for the configuration log line; "" until a handler was wrapped."""
    which, why = mode()
    if _mode[1] == _NOT_DECIDED:
        return ""
    return f"{which} ({why})"


def _decide(why: str, ext: Optional[Extension] = None, quiet: bool = False) -> Optional[Extension]:
    global _mode, _extension
    _extension = ext
    _mode = (EXTENSION if ext is not None else FLUSH_ON_RETURN, why)
    from ..client import describe

    describe("sending", describe_mode)
    if not quiet:
        log.logger().debug("AWS Lambda, %s mode: %s", _mode[0], why)
    return ext


def runtime_handler_name() -> Optional[str]:
    """The function's handler setting as a dotted name (``dir/mod.func`` -> ``dir.mod.func``)."""
    handler = os.environ.get(HANDLER_VARIABLE)
    if not handler:
        return None
    module, _, function = handler.strip().rpartition(".")
    return f"{module.replace('/', '.').strip('.')}.{function}"


def start_for(served_as: str, client: Client) -> Optional[Extension]:
    """Register and start the extension if the handler being wrapped, ``served_as``
    (``module.function``), is the one the runtime calls; the ``Extension`` it then hands its
    invocations to, or None for flush before return.

    Registration is only possible during init and only once per process: the first wrapped
    handler the runtime calls owns the extension; every other wrapped function flushes itself.
    """
    if _extension is not None:
        return None
    address = os.environ.get(RUNTIME_API_VARIABLE)
    if not address:
        # Not on Lambda (or a unit test): nothing to register with, and nothing worth
        # importing ``logging`` for.
        _decide(f"{RUNTIME_API_VARIABLE} is not set (not running on Lambda)", quiet=True)
        return None
    handler = runtime_handler_name()
    if handler != served_as:
        log.logger().debug(
            "%s is not the function's handler (%s=%r): it flushes before returning",
            served_as,
            HANDLER_VARIABLE,
            os.environ.get(HANDLER_VARIABLE),
        )
        if _mode[1] == _NOT_DECIDED:
            _decide(f"no wrapped function is the function's handler ({HANDLER_VARIABLE})")
        return None
    if not client.config.lambda_extension:
        return _decide(f"{SETTING} is off")
    if not client.tracing:
        return _decide("tracing is off or not configured")
    try:
        connection = _Connection(address)
        identifier = _register(connection)
    except Exception as exc:
        return _decide(f"the Extensions API refused the registration ({exc})")
    ext = Extension(connection, identifier)
    ext.start()
    return _decide(
        f"registered with the Extensions API as {EXTENSION_NAME!r}: spans are sent after the "
        "response, before Lambda freezes the sandbox",
        ext,
    )


def _register(connection: _Connection) -> str:
    # The first request on a fresh connection: nothing stale to retry.
    connection.send(
        "POST",
        REGISTER_PATH,
        {"Lambda-Extension-Name": EXTENSION_NAME, "Content-Type": "application/json"},
        b'{"events":["INVOKE"]}',
        timeout=_REGISTER_TIMEOUT_S,
    )
    status, headers, body = connection.receive()
    identifier = headers.get("lambda-extension-identifier")
    if status != 200 or not identifier:
        connection.close()
        raise RuntimeApiError(f"HTTP {status} {body[:200].decode('utf-8', 'replace')!r}")
    return identifier


def _after_fork_in_child() -> None:
    # Lambda's registration belongs to the process that made it; a forked child flushes itself.
    global _extension, _mode
    if _extension is not None:
        _extension.active = False  # the wrapper holding it flushes itself
        _extension = None
        _mode = (FLUSH_ON_RETURN, "a forked child of the registered process")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _reset_for_tests() -> None:
    global _extension, _mode
    _extension = None
    _mode = (FLUSH_ON_RETURN, "no Lambda handler has been wrapped yet")
