"""Host names to addresses within a deadline, cached for the process.

``getaddrinfo`` takes no timeout: a slow resolver would hold a flush for as long as it likes.
So it runs on a thread of its own while the caller waits at most until its deadline; a late
answer is still cached for the next flush. At most one lookup per host is in flight, so a
resolver that never answers costs one parked thread, not one per flush.

IP literals skip the resolver. Names are passed as ASCII bytes, so an ASCII host never makes
``getaddrinfo`` import ``encodings.idna`` (~1 ms on a cold start).
"""

from __future__ import annotations

import _socket
import os
from _socket import AF_INET, AF_INET6, IPPROTO_TCP, SOCK_STREAM, inet_pton
from _thread import allocate_lock, start_new_thread
from time import monotonic

from .endpoint import shown_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    Address = Tuple[int, int, int, Tuple[Any, ...]]  # family, type, proto, sockaddr
    Key = Tuple[str, int]

# How long a lookup's answer is used before asking again. A changed address is then picked up
# within a minute; when the resolver cannot answer in time, the expired answer is used.
CACHE_SECONDS = 60.0


class ResolveTimeout(TimeoutError):
    """The resolver did not answer by the deadline (its answer is cached when it comes)."""


class _Lookup:
    __slots__ = ("addresses", "done", "error")

    def __init__(self) -> None:
        self.done = allocate_lock()
        self.done.acquire()  # released by the lookup thread when it has an answer
        self.addresses: List[Address] = []
        self.error: Optional[BaseException] = None


_lock = allocate_lock()
_cache: Dict[Key, Tuple[float, List[Address]]] = {}
_in_flight: Dict[Key, _Lookup] = {}


def _literal(host: str, port: int) -> Optional[List[Address]]:
    try:
        inet_pton(AF_INET, host)
        return [(AF_INET, SOCK_STREAM, IPPROTO_TCP, (host, port))]
    except OSError:
        pass
    try:
        inet_pton(AF_INET6, host)
        return [(AF_INET6, SOCK_STREAM, IPPROTO_TCP, (host, port, 0, 0))]
    except OSError:
        return None


def _look_up(key: Key, lookup: _Lookup) -> None:
    host, port = key
    try:
        name: Any = host.encode("ascii") if host.isascii() else host
        infos = _socket.getaddrinfo(name, port, 0, SOCK_STREAM)
        lookup.addresses = [(family, kind, proto, addr) for family, kind, proto, _, addr in infos]
        _cache[key] = (monotonic() + CACHE_SECONDS, lookup.addresses)
    except BaseException as exc:  # handed to the waiting caller
        lookup.error = exc
    finally:
        with _lock:
            if _in_flight.get(key) is lookup:
                del _in_flight[key]
        lookup.done.release()


def resolve(host: str, port: int, deadline: float) -> List[Address]:
    """The addresses of ``host``; raises ``TimeoutError`` when none are known by ``deadline``
    (a ``time.monotonic`` value) or the resolver's own error (``socket.gaierror``)."""
    literal = _literal(host, port)
    if literal is not None:
        return literal
    key = (host, port)
    cached = _cache.get(key)
    if cached is not None and cached[0] > monotonic():
        return cached[1]
    with _lock:
        lookup = _in_flight.get(key)
        if lookup is None:
            lookup = _in_flight[key] = _Lookup()
            try:
                start_new_thread(_look_up, (key, lookup))
            except BaseException:  # no thread (interpreter shutting down): nothing in flight
                del _in_flight[key]
                raise
    if lookup.done.acquire(True, max(deadline - monotonic(), 0.0)):
        lookup.done.release()  # let every other waiter see the answer too
        if lookup.error is None:
            return lookup.addresses
        error: BaseException = lookup.error
    else:
        shown = shown_host(host)
        error = ResolveTimeout(f"resolving {shown!r} took longer than the flush deadline")
    if cached is not None:
        return cached[1]  # expired, but better than nothing while the resolver struggles
    raise error


def forget(host: str, port: int) -> None:
    """Drop a cached answer none of whose addresses could be reached: ask again next time."""
    _cache.pop((host, port), None)


def _reset_after_fork() -> None:
    # A lookup thread does not exist in the child: a waiter would wait for it forever.
    global _lock
    _lock = allocate_lock()
    _in_flight.clear()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_after_fork)
