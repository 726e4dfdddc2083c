"""Reports an invocation that is about to be killed by Lambda's timeout.

When Lambda's deadline passes, the sandbox is frozen or killed mid-handler and an open entry
span would never leave. One reusable daemon thread waits for the armed deadline minus a margin
and then ends and flushes the span itself. Arming and disarming are a lock and a notify, a few
microseconds per invocation; the thread starts with the first armed invocation.
"""

from __future__ import annotations

from threading import Condition, Thread
from time import monotonic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

# How long ``disarm`` waits for a report already under way (it flushes, bounded by the
# reporter's own timeout, so this only guards against a stuck flush).
_MAX_WAIT_FOR_REPORT_S = 5.0
_NEVER = float("inf")
# The longest single wait of the thread. A context may claim any remaining time (10**20 ms has
# been seen from a hand-made one) and a lock cannot wait beyond what the platform's time_t
# holds: waiting in slices of at most an hour and re-reading the deadline handles every value.
# Lambda's own limit is 15 minutes.
_LONGEST_WAIT_S = 3600.0
# A new deadline earlier than the thread's next wake-up by less than this does not wake it: the
# thread then reports at most this late (within the margin of 200 ms by default). Deadlines
# computed from whole milliseconds jitter by one; without the slack, a run of invocations with
# the same deadline (a test, a benchmark, a re-used context) woke the thread every few calls.
_WAKE_SLACK_S = 0.005


class Armed:
    """One armed invocation; its identity (and request id) keep a report in its invocation."""

    __slots__ = ("at", "on_fire", "request_id")

    def __init__(self, at: float, request_id: Optional[str], on_fire: Callable[[], None]) -> None:
        self.at = at
        self.request_id = request_id
        self.on_fire = on_fire


class TimeoutGuard:
    """At most one armed invocation at a time, as Lambda runs one invocation per sandbox."""

    def __init__(self) -> None:
        self._cond = Condition()
        self._armed: Optional[Armed] = None
        self._firing: Optional[Armed] = None
        self._thread: Optional[Thread] = None
        # When the thread wakes up next on its own (inf: not until notified). Arming a later
        # deadline and disarming need no wake-up, which keeps thread switches off the
        # invocation path: the thread wakes about once per function timeout.
        self._wakes_at = _NEVER
        # The request id being handled now; a report for any other one is stale and dropped.
        self.current_request_id: Optional[str] = None
        # How often the thread has woken up (tests and bench/lambda_extension.py count them).
        self.wakeups = 0

    def arm(self, delay_s: float, request_id: Optional[str], on_fire: Callable[[], None]) -> Armed:
        if not delay_s >= 0.0:  # negative or NaN: the deadline is now
            delay_s = 0.0
        armed = Armed(monotonic() + delay_s, request_id, on_fire)
        with self._cond:
            self.current_request_id = request_id
            self._armed = armed
            if self._thread is None or not self._thread.is_alive():
                self._wakes_at = _NEVER
                self._thread = Thread(target=self._run, name="instana-lambda-timeout", daemon=True)
                self._thread.start()
            elif armed.at < self._wakes_at - _WAKE_SLACK_S:
                self._wakes_at = armed.at
                self._cond.notify_all()
        return armed

    def disarm(self, armed: Armed) -> None:
        """Cancel ``armed``; if its report is being sent right now, wait until it has left."""
        with self._cond:
            if self._armed is armed:
                # The thread finds nothing armed when it wakes and goes back to sleep.
                self._armed = None
            if self.current_request_id == armed.request_id:
                self.current_request_id = None
            if self._firing is armed:
                self._cond.wait_for(lambda: self._firing is not armed, _MAX_WAIT_FOR_REPORT_S)

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                self.wakeups += 1
                armed = self._armed
                now = monotonic()
                if armed is None:
                    # Keep the wake-up time ``arm`` relies on, so that a run of short
                    # invocations costs no thread switch at all.
                    if self._wakes_at > now and self._wakes_at != _NEVER:
                        cond.wait(min(self._wakes_at - now, _LONGEST_WAIT_S))
                    else:
                        self._wakes_at = _NEVER
                        cond.wait()
                    continue
                left = armed.at - now
                if left > 0:
                    self._wakes_at = armed.at
                    cond.wait(min(left, _LONGEST_WAIT_S))
                    continue
                self._wakes_at = _NEVER
                self._armed = None
                if armed.request_id != self.current_request_id:
                    continue
                self._firing = armed
            try:
                armed.on_fire()
            except Exception:  # a reporting bug must not kill the guard thread
                pass
            finally:
                with cond:
                    self._firing = None
                    cond.notify_all()


_guard: Optional[TimeoutGuard] = None


def guard() -> TimeoutGuard:
    global _guard
    if _guard is None:
        _guard = TimeoutGuard()
    return _guard
