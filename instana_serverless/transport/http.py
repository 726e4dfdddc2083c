"""POSTs over a kept-alive ``http.client`` connection, bounded by a deadline.

Imported on first flush only: ``http.client`` and ``ssl`` cost several milliseconds to import,
which a cold start should not pay before the handler has even run.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
from time import monotonic
from typing import Mapping, Optional, Union

from .endpoint import Endpoint, parse_endpoint

Connection = Union[http.client.HTTPConnection, http.client.HTTPSConnection]

# Errors that mean a kept-alive connection died while the process was frozen between
# invocations; the request never reached the server, so sending it again is safe.
_STALE_ERRORS = (
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
    http.client.RemoteDisconnected,
    http.client.CannotSendRequest,
)


class TransportError(Exception):
    """The request could not be completed (connection refused, timeout, protocol error)."""


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
        self._headers = dict(headers)
        self._proxy = parse_endpoint(proxy, "INSTANA_ENDPOINT_PROXY") if proxy else None
        self._verify_tls = verify_tls
        self._conn: Optional[Connection] = None
        self._conn_used = False

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self._verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self, timeout: float) -> Connection:
        endpoint, proxy = self.endpoint, self._proxy
        conn: Connection
        if endpoint.scheme == "https":
            if proxy is not None:
                conn = http.client.HTTPSConnection(
                    proxy.host, proxy.port, timeout=timeout, context=self._tls_context()
                )
                conn.set_tunnel(endpoint.host, endpoint.port)
            else:
                conn = http.client.HTTPSConnection(
                    endpoint.host, endpoint.port, timeout=timeout, context=self._tls_context()
                )
        elif proxy is not None:
            conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
        conn.connect()
        # Spans are small and latency matters more than packet count.
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _target(self, path: str) -> str:
        if self.endpoint.scheme == "http" and self._proxy is not None:
            return f"http://{self.endpoint.authority}{path}"
        return path

    def post(self, resource: str, body: bytes, headers: Mapping[str, str], deadline: float) -> int:
        """POST ``body`` to ``<endpoint>/<resource>``; returns the status or raises TransportError.

        Never takes longer than ``deadline`` (a ``time.monotonic`` value) by more than one
        socket operation's granularity.
        """
        path = self._target(self.endpoint.path_for(resource))
        all_headers = {**self._headers, **headers, "Content-Length": str(len(body))}
        try:
            return self._post_once(path, body, all_headers, deadline)
        except _STALE_ERRORS as exc:
            reused = self._conn_used
            self.close()
            if not reused or monotonic() >= deadline:
                raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        # The kept-alive connection had gone stale: one immediate retry on a fresh one.
        try:
            return self._post_once(path, body, all_headers, deadline)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    def _post_once(
        self, path: str, body: bytes, headers: Mapping[str, str], deadline: float
    ) -> int:
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise TimeoutError("flush deadline passed before sending")
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect(remaining)
            self._conn_used = False
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise TimeoutError("flush deadline passed while connecting")
        if conn.sock is not None:
            conn.sock.settimeout(remaining)
        conn.request("POST", path, body=body, headers=dict(headers))
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise TimeoutError("flush deadline passed while sending")
        if conn.sock is not None:
            conn.sock.settimeout(remaining)
        response = conn.getresponse()
        response.read()  # drain so the connection can carry the next request
        self._conn_used = True
        if response.will_close:
            self.close()
        return response.status

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._conn_used = False
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
