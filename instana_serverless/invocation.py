"""One traced unit of work: activate an entry span, record what escapes, end it, send.

Every platform wrapper runs its handler inside this scope, so the order that docs/CONTRACT.md §3
demands (span ended *before* the send, the send as the platform's rule says, by default
*before* the result is returned) lives in one place.
"""

from __future__ import annotations

import sys
from types import TracebackType

from .client import Client
from .span import Span
from .tracer import activate, restore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Type


class Invocation:
    """``with Invocation(client, span): ...`` ends and flushes ``span`` however the block ends."""

    __slots__ = ("_token", "_unended", "client", "flush", "span")

    def __init__(self, client: Client, span: Span, *, flush: bool = True) -> None:
        self.client = client
        self.span = span
        self.flush = flush
        self._token: Any = None
        # list.pop is atomic: exactly one caller of end() gets the item and does the work.
        self._unended = [True]

    def __enter__(self) -> Span:
        self._token = activate(self.span)
        return self.span

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        try:
            self.end(exc)
        finally:
            restore(self._token)

    def end(self, exc: Optional[BaseException] = None) -> None:
        """End and send (``sending.work_done``) once. Safe from another thread (a timeout
        guard) and idempotent, so the guard and the normal return path may both call it."""
        span = self.span
        try:
            self._unended.pop()
        except IndexError:
            return
        if span.duration_ms is not None:  # finished
            return
        if exc is not None:
            span.record_exception(exc)
        span.finish()
        if self.flush and span.recording:
            _work_done(self.client)


_SENDING = __name__.rpartition(".")[0] + ".sending"


def _work_done(client: Client) -> None:
    """``sending.work_done(client)``, without importing ``sending`` on the cold path: a rule
    other than the default is installed with ``sending.set_rule``, so while no one imported
    ``sending`` the default applies, ``SendRule``'s send now (``Client.flush`` never raises)."""
    sending = sys.modules.get(_SENDING)
    if sending is None:
        client.flush()
    else:
        sending.work_done(client)
