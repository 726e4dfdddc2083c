"""The agent key a platform fetches in the background (Lambda: from SSM Parameter Store,
``aws_lambda/ssm.py``), and how the client waits for it. Imported only when the key is to be
fetched (``INSTANA_SSM_PARAM_NAME`` without ``INSTANA_AGENT_KEY``)."""

from __future__ import annotations

from _thread import allocate_lock

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from .client import Client


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


def settle(client: Client, pending: PendingKey, timeout_s: float) -> bool:
    """``Client.key_ready`` while a key is pending: wait up to ``timeout_s``; take the key, or
    turn tracing and reporting off for good when the fetch failed."""
    if not pending.started:
        # Only the Lambda wrappers fetch it: waiting here would only delay every flush.
        log.logger().error(
            "instana_serverless: INSTANA_SSM_PARAM_NAME is read on AWS Lambda only (by "
            "its wrappers); set INSTANA_AGENT_KEY here. Tracing is off."
        )
        pending.fail("NotStarted")
    if not pending.wait(timeout_s):
        return False
    if pending.key:
        client.agent_key = pending.key
        client.pending_key = None
        return True
    client.tracing = False
    client.reporting = False
    client.pending_key = None
    client.buffer.drain()
    return False


__all__ = ["PendingKey", "settle"]
