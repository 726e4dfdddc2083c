"""A sender thread for platforms whose CPU keeps running between requests (``sending``).

Imported only by a platform rule that sends after the response (Cloud Run with the CPU always
allocated): the thread machinery stays off every other cold path.
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


__all__ = ["LINGER_S", "BackgroundSender"]
