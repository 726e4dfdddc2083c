"""POSTs over one kept-alive HTTP/1.1 connection, bounded by a deadline.

A small client on ``_socket`` rather than ``http.client``: the latter imports ``email`` and
``ssl`` (about 16 ms), and ``socket`` itself ``selectors`` and ``enum`` (~3 ms), which a cold
start would pay at its first flush, while all we ever send is a POST with a known length.
TLS (``tls.py``, on ``_ssl``) is imported only for https endpoints. Everything, name
resolution included (``resolve.py``), runs under the caller's deadline.
"""

from __future__ import annotations

from _socket import IPPROTO_TCP, SOCK_STREAM, TCP_NODELAY
from _socket import socket as raw_socket
from time import monotonic

from . import resolve
from .endpoint import Endpoint, parse_endpoint, proxy_authorization, shown_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Mapping, Optional, Tuple, Union

# Errors that mean a kept-alive connection died while the process was frozen between
# invocations; the request never reached the server, so sending it again is safe.
_STALE_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024  # responses are tiny; a huge one is not worth reading
# How long a response body may take to arrive once the status is known. The status alone
# decides the bundle's fate; the body is read only so the connection can carry the next
# request, and a body that is slow or endless is cheaper to abandon with its connection.
_BODY_BUDGET_S = 0.25
# A real response has a chunk or two; thousands of tiny ones are a flood, cheaper to abandon
# (with the connection) than to parse one by one.
_MAX_CHUNKS = 256
# Header values are sent as given only when they are printable ASCII.
_SAFE_HEADER_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F))
_SAFE_PATH_CHARS = _SAFE_HEADER_CHARS - {" "}


class TransportError(Exception):
    """The request could not be completed (connection refused, timeout, protocol error)."""


class _ConnectionClosed(ConnectionResetError):
    """The server closed a kept-alive connection before answering."""


class _Socket(raw_socket):
    """``_socket.socket`` plus the weak reference the TLS layer keeps to it."""

    __slots__ = ("__weakref__",)


def header_value(value: str) -> str:
    """``value`` safe for one header line: control characters (CR/LF would start a header of
    their own) and non-ASCII characters (which Latin-1 may not even encode) are sent
    percent-encoded as UTF-8, so a bad value changes one header, never the request."""
    value = str(value)
    if value.isascii() and value.isprintable():  # the usual case, checked in C
        return value
    return _escape(value, _SAFE_HEADER_CHARS)


def _escape(value: str, safe: frozenset[str]) -> str:
    if all(char in safe for char in value):
        return value
    return "".join(
        char if char in safe else "".join(f"%{b:02X}" for b in char.encode("utf-8", "replace"))
        for char in value
    )


class _Connection:
    __slots__ = ("buffer", "closed_errors", "sock", "tls", "used")

    def __init__(self, sock: _Socket) -> None:
        self.sock = sock
        self.tls: Any = None  # the TLS stream over ``sock``, for https
        self.closed_errors: Tuple[type[BaseException], ...] = ()  # a TLS stream's end
        self.buffer = b""
        self.used = False

    def send(self, data: bytes) -> None:
        if self.tls is None:
            self.sock.sendall(data)
            return
        view = memoryview(data)
        while view:
            view = view[self.tls.write(view) :]

    def recv(self) -> bytes:
        if self.tls is None:
            return self.sock.recv(65536)
        try:
            return self.tls.read(65536)  # type: ignore[no-any-return]
        except self.closed_errors:
            return b""

    def close(self) -> None:
        self.tls = None
        self.sock.close()


class HttpTransport:
    """One keep-alive connection to the endpoint, optionally through a CONNECT proxy."""

    def __init__(
        self,
        endpoint: Union[str, Endpoint],
        *,
        headers: Mapping[str, str],
        proxy: Optional[str] = None,
        verify_tls: bool = True,
    ) -> None:
        self.endpoint = parse_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        self._proxy = parse_endpoint(proxy, "INSTANA_ENDPOINT_PROXY", proxy=True) if proxy else None
        self._proxy_auth = proxy_authorization(proxy) if proxy else None
        self._verify_tls = verify_tls
        self._conn: Optional[_Connection] = None
        self._conn_was_used = False
        # The body of the last response (capped): the reporter ignores it, an AWS API call
        # (the agent key from SSM) reads its answer from it.
        self.last_body = b""
        host_header = self.endpoint.authority
        if (self.endpoint.scheme, self.endpoint.port) in (("https", 443), ("http", 80)):
            host_header = host_header.rsplit(":", 1)[0]
        self._host_header = host_header
        self._fixed_head = _header_lines({"Host": host_header, **headers})

    # -- connection -------------------------------------------------------------------------

    def connect(self, deadline: float) -> None:
        """Open the connection now (TLS handshake included) so a later POST need not."""
        if self._conn is None:
            self._conn = self._open(deadline)

    def _open(self, deadline: float) -> _Connection:
        endpoint, proxy = self.endpoint, self._proxy
        target = proxy or endpoint
        conn = _Connection(_connect(target.host, target.port, deadline))
        try:
            if proxy is not None and endpoint.scheme == "https":
                self._tunnel(conn, deadline)
            if endpoint.scheme == "https":
                from .tls import CLOSED_ERRORS, handshake

                conn.sock.settimeout(_remaining(deadline))
                conn.tls = handshake(conn.sock, endpoint.host, self._verify_tls)
                conn.closed_errors = CLOSED_ERRORS
            return conn
        except BaseException:
            conn.close()
            raise

    def _tunnel(self, conn: _Connection, deadline: float) -> None:
        authority = _escape(self.endpoint.authority, _SAFE_PATH_CHARS)
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if self._proxy_auth:
            request += f"Proxy-Authorization: {self._proxy_auth}\r\n"
        request += "\r\n"
        conn.sock.settimeout(_remaining(deadline))
        conn.send(request.encode("latin-1"))
        status, _ = self._read_head(conn, deadline)
        if status != 200:
            shown = shown_host(self.endpoint.host)
            raise TransportError(f"proxy refused CONNECT to {shown}: HTTP {status}")

    # -- request ----------------------------------------------------------------------------

    def _request_bytes(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        extra = _header_lines(headers)
        if self.endpoint.scheme == "http" and self._proxy is not None:
            # absolute form for a plain proxy
            path = _escape(f"http://{self.endpoint.authority}{path}", _SAFE_PATH_CHARS)
            if self._proxy_auth:
                extra += f"Proxy-Authorization: {self._proxy_auth}\r\n"
        head = (
            f"POST {path} HTTP/1.1\r\n{self._fixed_head}{extra}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    @property
    def host_header(self) -> str:
        """The ``Host`` header every request carries (what a signature must cover)."""
        return self._host_header

    def post(self, resource: str, body: bytes, headers: Mapping[str, str], deadline: float) -> int:
        """POST ``body`` to ``<endpoint>/<resource>``; returns the status or raises TransportError.
        The response body is then in ``last_body``.

        Never takes longer than ``deadline`` (a ``time.monotonic`` value) by more than one
        socket operation's granularity.
        """
        path = _escape(self.endpoint.path_for(resource), _SAFE_PATH_CHARS)
        request = self._request_bytes(path, body, headers)
        try:
            return self._exchange(request, deadline)
        except _STALE_ERRORS as exc:
            reused = self._conn_was_used
            self.close()
            if not reused or monotonic() >= deadline:
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except (OSError, ValueError, TransportError) as exc:
            self.close()
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        # The kept-alive connection had gone stale: one immediate retry on a fresh one.
        try:
            return self._exchange(request, deadline)
        except (OSError, ValueError, TransportError) as exc:
            self.close()
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    def _exchange(self, request: bytes, deadline: float) -> int:
        conn = self._conn
        if conn is None:
            conn = self._conn = self._open(deadline)
        self._conn_was_used = conn.used
        conn.sock.settimeout(_remaining(deadline))
        conn.send(request)
        status, headers = self._read_head(conn, deadline)
        conn.used = True
        # From here on the backend has answered: whatever the body does (floods, stalls,
        # is malformed), the status stands. Raising would make the caller send the bundle
        # again although it was taken; only the connection is given up.
        try:
            keep_alive = self._read_body(
                conn, status, headers, min(deadline, monotonic() + _BODY_BUDGET_S)
            )
        except (OSError, ValueError, TransportError):
            keep_alive = False
        if not keep_alive:
            self.close()
        return status

    # -- response ---------------------------------------------------------------------------

    def _fill(self, conn: _Connection, deadline: float) -> None:
        if len(conn.buffer) > _MAX_HEAD + _MAX_BODY:
            raise TransportError("response too large")  # a flood must not fill memory
        conn.sock.settimeout(_remaining(deadline))
        chunk = conn.recv()
        if not chunk:
            raise _ConnectionClosed("connection closed by the server")
        conn.buffer += chunk

    def _read_head(self, conn: _Connection, deadline: float) -> Tuple[int, dict[str, str]]:
        while True:
            while b"\r\n\r\n" not in conn.buffer:
                if len(conn.buffer) > _MAX_HEAD:
                    raise TransportError("response head too large")
                self._fill(conn, deadline)
            head, _, conn.buffer = conn.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
                raise TransportError(f"malformed status line: {lines[0][:80]!r}")
            status = int(parts[1])
            headers: dict[str, str] = {"_version": parts[0]}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200 and status != 101:
                continue  # interim response (100 Continue): the real one follows
            return status, headers

    def _read_body(
        self, conn: _Connection, status: int, headers: dict[str, str], deadline: float
    ) -> bool:
        """Consume the body; True when the connection may carry another request."""
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and headers["_version"] != "HTTP/1.0"
        self.last_body = b""
        if status in (204, 304):
            return keep_alive  # never a body (RFC 9110 §6.4.1)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked(conn, deadline) and keep_alive
        length_text = headers.get("content-length")
        if length_text is not None:
            length = int(length_text)
            if length < 0:
                raise TransportError(f"malformed Content-Length: {length_text[:20]!r}")
            if length > _MAX_BODY:
                return False
            while len(conn.buffer) < length:
                self._fill(conn, deadline)
            self.last_body = bytes(conn.buffer[:length])
            conn.buffer = conn.buffer[length:]
            return keep_alive
        # No length: the body runs until the server closes, so the connection is spent.
        try:
            while len(conn.buffer) < _MAX_BODY:
                self._fill(conn, deadline)
        except _ConnectionClosed:
            pass
        self.last_body = bytes(conn.buffer[:_MAX_BODY])
        return False

    def _read_chunked(self, conn: _Connection, deadline: float) -> bool:
        """Consume a chunked body; False when it exceeded the cap (the rest is left unread,
        so the connection cannot carry another request).

        Parsed at an offset into the buffer: cutting the buffer after every chunk would copy
        it once per chunk, which an endless stream of tiny chunks turns into quadratic work.
        """
        total = 0
        pos = 0
        chunks = 0
        parts: List[bytes] = []

        def line_end() -> int:
            nonlocal pos
            while True:
                end = conn.buffer.find(b"\r\n", pos)
                if end >= 0:
                    return end
                if len(conn.buffer) - pos > _MAX_HEAD:
                    raise TransportError("chunk size line too long")
                conn.buffer, pos = conn.buffer[pos:], 0
                self._fill(conn, deadline)

        while True:
            end = line_end()
            size_text = conn.buffer[pos:end].split(b";")[0].strip() or b"0"
            pos = end + 2
            size = int(size_text, 16)
            total += size
            chunks += 1
            if size < 0 or total > _MAX_BODY or chunks > _MAX_CHUNKS:
                return False
            if size == 0:
                while True:  # trailers, if any, end with an empty line
                    end = line_end()
                    empty = end == pos
                    pos = end + 2
                    if empty:
                        conn.buffer = conn.buffer[pos:]
                        self.last_body = b"".join(parts)
                        return True
            while len(conn.buffer) - pos < size + 2:
                conn.buffer, pos = conn.buffer[pos:], 0
                self._fill(conn, deadline)
            parts.append(bytes(conn.buffer[pos : pos + size]))
            pos += size + 2

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _header_lines(headers: Mapping[str, str]) -> str:
    return "".join(f"{name}: {header_value(value)}\r\n" for name, value in headers.items())


def _connect(host: str, port: int, deadline: float) -> _Socket:
    """A TCP connection to the first address of ``host`` that accepts, by ``deadline``."""
    error: Optional[OSError] = None
    for family, _, proto, address in resolve.resolve(host, port, deadline):
        sock = _Socket(family, SOCK_STREAM, proto)
        try:
            sock.settimeout(_remaining(deadline))
            # Bundles are small and latency matters more than packet count.
            sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
            if monotonic() >= deadline:
                break
    resolve.forget(host, port)
    raise error or OSError(f"no address for {shown_host(host)!r}")


def _remaining(deadline: float) -> float:
    remaining = deadline - monotonic()
    if remaining <= 0:
        raise TimeoutError("flush deadline passed")
    return remaining
