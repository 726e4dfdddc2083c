"""Servers on a bare socket, for what an HTTP server library does not do: answer with exactly
the bytes given, close a connection without saying so, tunnel."""

from __future__ import annotations

import socket
import threading


class SocketServer:
    """Listens on 127.0.0.1 and hands each accepted connection to ``handle``, in turn, on a
    thread of its own. Subclasses set their state before calling ``__init__``: it starts
    accepting at once."""

    def __init__(self) -> None:
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port: int = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.accepting():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.handle(conn)

    def accepting(self) -> bool:
        return True

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


def read_request(conn: socket.socket) -> bytes:
    """One request as sent: its head, the blank line and a body of its Content-Length; b"" when
    the peer closed the connection before sending anything."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    if not data:
        return b""
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
