"""The agent key a platform fetches in the background (Lambda: from SSM Parameter Store,
``aws_lambda/ssm.py``). Imported only when the key is to be fetched (``INSTANA_SSM_PARAM_NAME``
without ``INSTANA_AGENT_KEY``)."""

from __future__ import annotations

from _thread import allocate_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


class PendingKey:
    """Set once, with the key or with the reason there is none."""

    __slots__ = ("_done", "error", "key", "started")

    def __init__(self) -> None:
        self._done = allocate_lock()
        self._done.acquire()
        self.key: Optional[str] = None
        self.error: Optional[str] = None
        self.started = False  # a fetch is under way (set by the platform that runs it)

    def resolve(self, key: str) -> None:
        self.key = key
        self._release()

    def fail(self, error: str) -> None:
        self.error = error
        self._release()

    def _release(self) -> None:
        try:  # noqa: SIM105  (no contextlib on the cold path)
            self._done.release()
        except RuntimeError:  # settled twice: the first answer stands
            pass

    def wait(self, timeout_s: float) -> bool:
        """True once settled (key or error); False when ``timeout_s`` passed first."""
        if self._done.acquire(True, max(timeout_s, 0.0)):
            self._done.release()
            return True
        return False


__all__ = ["PendingKey"]
