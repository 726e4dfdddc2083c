"""POSTs over one kept-alive HTTP/1.1 connection, bounded by a deadline.

A small client on ``socket`` rather than ``http.client``: the latter imports ``email`` and
``ssl`` (about 16 ms), which a cold start would pay at its first flush, while all we ever
send is a POST with a known length. ``ssl`` is imported only for https endpoints.
"""

from __future__ import annotations

import socket
from time import monotonic

from .endpoint import Endpoint, parse_endpoint, proxy_authorization

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Mapping, Optional, Tuple, Union

# Errors that mean a kept-alive connection died while the process was frozen between
# invocations; the request never reached the server, so sending it again is safe.
_STALE_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024  # responses are tiny; a huge one is not worth reading


class TransportError(Exception):
    """The request could not be completed (connection refused, timeout, protocol error)."""


class _ConnectionClosed(ConnectionResetError):
    """The server closed a kept-alive connection before answering."""


class _Connection:
    __slots__ = ("buffer", "sock", "used")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.used = False

    def close(self) -> None:
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
        self._tls: Optional[ssl.SSLContext] = None
        self._conn: Optional[_Connection] = None
        self._conn_was_used = False
        host_header = self.endpoint.authority
        if (self.endpoint.scheme, self.endpoint.port) in (("https", 443), ("http", 80)):
            host_header = host_header.rsplit(":", 1)[0]
        self._fixed_head = "".join(
            f"{name}: {value}\r\n" for name, value in {"Host": host_header, **headers}.items()
        )

    # -- connection -------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import ssl

            context = ssl.create_default_context()
            if not self._verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls = context
        return self._tls

    def connect(self, deadline: float) -> None:
        """Open the connection now (TLS handshake included) so a later POST need not."""
        if self._conn is None:
            self._conn = self._open(deadline)

    def _open(self, deadline: float) -> _Connection:
        endpoint, proxy = self.endpoint, self._proxy
        target = proxy or endpoint
        sock = socket.create_connection((target.host, target.port), timeout=_remaining(deadline))
        try:
            # Bundles are small and latency matters more than packet count.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(sock)
            if proxy is not None and endpoint.scheme == "https":
                self._tunnel(conn, deadline)
            if endpoint.scheme == "https":
                sock.settimeout(_remaining(deadline))
                conn.sock = self._tls_context().wrap_socket(sock, server_hostname=endpoint.host)
            return conn
        except BaseException:
            sock.close()
            raise

    def _tunnel(self, conn: _Connection, deadline: float) -> None:
        authority = self.endpoint.authority
        request = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if self._proxy_auth:
            request += f"Proxy-Authorization: {self._proxy_auth}\r\n"
        request += "\r\n"
        conn.sock.settimeout(_remaining(deadline))
        conn.sock.sendall(request.encode("latin-1"))
        status, _ = self._read_head(conn, deadline)
        if status != 200:
            raise TransportError(f"proxy refused CONNECT to {authority}: HTTP {status}")

    # -- request ----------------------------------------------------------------------------

    def _request_bytes(self, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if self.endpoint.scheme == "http" and self._proxy is not None:
            path = f"http://{self.endpoint.authority}{path}"  # absolute form for a plain proxy
            if self._proxy_auth:
                extra += f"Proxy-Authorization: {self._proxy_auth}\r\n"
        head = (
            f"POST {path} HTTP/1.1\r\n{self._fixed_head}{extra}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    def post(self, resource: str, body: bytes, headers: Mapping[str, str], deadline: float) -> int:
        """POST ``body`` to ``<endpoint>/<resource>``; returns the status or raises TransportError.

        Never takes longer than ``deadline`` (a ``time.monotonic`` value) by more than one
        socket operation's granularity.
        """
        request = self._request_bytes(self.endpoint.path_for(resource), body, headers)
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
        conn.sock.sendall(request)
        status, headers = self._read_head(conn, deadline)
        keep_alive = self._read_body(conn, status, headers, deadline)
        conn.used = True
        if not keep_alive:
            self.close()
        return status

    # -- response ---------------------------------------------------------------------------

    def _fill(self, conn: _Connection, deadline: float) -> None:
        conn.sock.settimeout(_remaining(deadline))
        chunk = conn.sock.recv(65536)
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
        if status in (204, 304):
            return keep_alive  # never a body (RFC 9110 §6.4.1)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._read_chunked(conn, deadline)
            return keep_alive
        length_text = headers.get("content-length")
        if length_text is not None:
            length = int(length_text)
            if length > _MAX_BODY:
                return False
            while len(conn.buffer) < length:
                self._fill(conn, deadline)
            conn.buffer = conn.buffer[length:]
            return keep_alive
        # No length: the body runs until the server closes, so the connection is spent.
        try:
            while len(conn.buffer) < _MAX_BODY:
                self._fill(conn, deadline)
        except _ConnectionClosed:
            pass
        return False

    def _read_chunked(self, conn: _Connection, deadline: float) -> None:
        while True:
            while b"\r\n" not in conn.buffer:
                self._fill(conn, deadline)
            size_line, _, conn.buffer = conn.buffer.partition(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while b"\r\n" not in conn.buffer:  # trailers end with an empty line
                    self._fill(conn, deadline)
                while not conn.buffer.startswith(b"\r\n"):
                    _, _, conn.buffer = conn.buffer.partition(b"\r\n")
                    while b"\r\n" not in conn.buffer:
                        self._fill(conn, deadline)
                conn.buffer = conn.buffer[2:]
                return
            while len(conn.buffer) < size + 2:
                self._fill(conn, deadline)
            conn.buffer = conn.buffer[size + 2 :]

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _remaining(deadline: float) -> float:
    remaining = deadline - monotonic()
    if remaining <= 0:
        raise TimeoutError("flush deadline passed")
    return remaining
