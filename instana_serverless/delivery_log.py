"""What the reporter logs when delivery starts failing, recovers, or the buffer drops spans:
one line per change, never one per invocation (docs/CONTRACT.md §2, logging).

Imported at the first failed flush or dropped span: a process whose spans are delivered never
loads these messages.
"""

from __future__ import annotations

from time import monotonic

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .reporter import Reporter


def failed(reporter: Reporter, reason: str, waiting: int, started: float) -> None:
    """A flush failed: debug detail, and the one warning when delivery starts failing."""
    own = log.logger()
    if own.isEnabledFor(log.DEBUG):
        own.debug(
            "flush failed after %.0f ms: %s; %d spans kept for the next flush",
            (monotonic() - started) * 1000,
            reason,
            waiting,
        )
    reporter._failed_flushes += 1
    if reporter._failing_since is None:
        reporter._failing_since = monotonic()
        reporter._failed_flushes = 1
        reporter._drops_at_failure = reporter.buffer.dropped
        if not reason.startswith("HTTP 401") and not reason.startswith("HTTP 403"):
            # A refused key has its own ERROR line, naming the key.
            log.state_change(
                f"spans cannot be delivered to {reporter.target} ({reason}); "
                f"{len(reporter.buffer)} spans wait in the buffer (at most "
                f"{reporter.buffer.capacity}, the oldest are dropped beyond that) and go with "
                "the next flush that gets through. Check INSTANA_ENDPOINT_URL, that this "
                "environment can reach it (DNS, firewall, egress), and INSTANA_TIMEOUT "
                f"({round(reporter.timeout_s * 1000)} ms). One more line follows when delivery "
                "recovers",
                warning=True,
            )


def recovered(reporter: Reporter) -> None:
    """A flush got through after failed ones: one line saying so and what was lost."""
    assert reporter._failing_since is not None
    lost = reporter.buffer.dropped - reporter._drops_at_failure
    log.state_change(
        f"spans are delivered to {reporter.target} again, after {reporter._failed_flushes} "
        f"failed flushes over {monotonic() - reporter._failing_since:.1f} s; "
        + (f"{lost} spans were dropped meanwhile" if lost else "none were lost"),
        warning=False,
    )
    reporter._failing_since = None
    reporter._drops_warned = False


def dropped(reporter: Reporter) -> None:
    """The buffer dropped spans since the last report: a warning the first time while delivery
    fails, debug lines after that."""
    count = reporter.buffer.dropped
    reporter._reported_drops = count
    if reporter._drops_warned:
        log.logger().debug("span buffer full: %d oldest spans dropped so far", count)
        return
    reporter._drops_warned = True  # again only after delivery recovered
    log.state_change(
        f"the span buffer is full: {count} spans were dropped so far (the oldest first, "
        f"the buffer keeps at most {reporter.buffer.capacity} until a flush gets through); "
        "later drops are logged at debug level",
        warning=True,
    )


__all__ = ["dropped", "failed", "recovered"]
