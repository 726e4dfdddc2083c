"""When the spans of a finished unit of work leave: the one send rule (docs/CONTRACT.md §3).

A unit of work is an HTTP request, a function call, a consumed message or a served RPC. Whoever
opened its entry span calls ``work_done(client)`` once the span has ended, at the last moment
the unit of work is still in flight: for an HTTP response before its last byte is released
(the WSGI/ASGI middleware holds it back), for a function before its result is handed back.
What happens then is the platform's rule, installed with ``set_rule`` (platforms → core):

- ``SendRule`` (the default, and Cloud Run with request-based billing): send now and return
  when the backend has answered (or ``INSTANA_TIMEOUT`` ran out). A platform that freezes or
  throttles the process as soon as nothing is in flight cannot hold a unit of work's spans
  back until the next one, because the unit of work is not over before they left. Cost: one
  backend round trip per unit of work.
- ``BackgroundSender`` behind a platform rule whose ``blocks`` is false (Cloud Run with CPU
  always allocated): wake a sender thread and return at once; the thread sends what is
  buffered, so a burst of requests shares one send. The response costs nothing measurable.

The rule is process-wide (one platform per process). ``blocks`` tells async callers whether to
move the call off their event loop.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Callable, Optional

    from .client import Client


class SendRule:
    """Send now, before the unit of work completes (the default on every platform)."""

    def blocks(self, client: Client) -> bool:
        return True

    def send(self, client: Client) -> None:
        client.flush()


DEFAULT = SendRule()
_rule: SendRule = DEFAULT


def set_rule(rule: Optional[SendRule]) -> None:
    """Install the platform's rule (None: back to the default)."""
    global _rule
    _rule = DEFAULT if rule is None else rule


def current_rule() -> SendRule:
    return _rule


def work_done(client: Client) -> None:
    """The unit of work's entry span has ended: send as the rule says. Never raises."""
    try:
        _rule.send(client)
    except Exception as exc:
        log.logger().debug("sending after the unit of work failed: %r", exc)


async def work_done_async(client: Client) -> None:
    """``work_done`` for a coroutine: a blocking send runs off the event loop (other requests
    on the loop keep going); still awaited, so the caller's response waits for it."""
    rule = _rule
    try:
        if not rule.blocks(client):
            rule.send(client)
            return
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, rule.send, client)
    except Exception as exc:
        log.logger().debug("sending after the unit of work failed: %r", exc)


LINGER_S = 0.002


class BackgroundSender:
    """A daemon thread that runs ``action(client)`` whenever woken, off every request path.

    It is woken while the response's last bytes are still being written, so it lets them go
    first: it starts ``linger_s`` later (encoding a bundle holds the GIL the writing thread
    needs). Wake-ups meanwhile, or while a send runs, coalesce into one send, so under load
    the spans of many requests share a bundle. The thread starts on the first wake-up and
    again in a forked child (a fork copies no threads). Spans still buffered when the process
    exits are sent by an ``atexit`` hook (Cloud Run sends SIGTERM, then SIGKILL 10 s later).
    """

    def __init__(self, action: Callable[[Client], object], linger_s: float = LINGER_S) -> None:
        self._action = action
        self._linger_s = linger_s
        self._client: Optional[Client] = None
        self._pid = 0
        self._wakeup: Optional[threading.Event] = None  # ``threading`` imported on first use
        self._registered = False
        self._lock = allocate_lock()

    def wake(self, client: Client) -> None:
        self._client = client
        wakeup = self._wakeup
        if wakeup is None or self._pid != os.getpid():
            if self._pid and self._pid != os.getpid():
                self._lock = allocate_lock()  # one held at the fork would stay held here
            wakeup = self._start()
        wakeup.set()

    def _start(self) -> threading.Event:
        import threading

        with self._lock:  # two first requests at once start one thread
            wakeup = self._wakeup
            if wakeup is not None and self._pid == os.getpid():
                return wakeup
            wakeup = self._wakeup = threading.Event()
            self._pid = os.getpid()
            if not self._registered:
                import atexit

                atexit.register(self.drain)
                self._registered = True
            thread = threading.Thread(
                target=self._run, args=(wakeup,), name="instana-sender", daemon=True
            )
            thread.start()
            return wakeup

    def _run(self, wakeup: threading.Event) -> None:
        from time import sleep

        while True:
            wakeup.wait()
            if self._linger_s > 0:
                sleep(self._linger_s)
            wakeup.clear()
            self.drain()

    def drain(self) -> None:
        """Run the action now for the last client woken with (never raises)."""
        client = self._client
        if client is None:
            return
        try:
            self._action(client)
        except Exception as exc:
            log.logger().debug("background send failed: %r", exc)


__all__ = [
    "DEFAULT",
    "BackgroundSender",
    "SendRule",
    "current_rule",
    "set_rule",
    "work_done",
    "work_done_async",
]
