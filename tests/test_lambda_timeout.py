"""The timeout guard: reports a span with ``msleft`` before Lambda's deadline, exactly once."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

import instana_serverless as instana
from instana_serverless.aws_lambda import decorator, lambda_handler
from instana_serverless.aws_lambda.timeout_guard import TimeoutGuard
from tests.conftest import AGENT_KEY, configure_for
from tests.lambda_fixtures import make_context


@pytest.fixture(autouse=True)
def fresh_sandbox() -> Iterator[None]:
    decorator._reset_for_tests()
    yield


def configure(acceptor: Any, margin_ms: int = 200) -> Any:
    return instana.configure(
        environ={
            "INSTANA_ENDPOINT_URL": acceptor.url,
            "INSTANA_AGENT_KEY": AGENT_KEY,
            "INSTANA_LAMBDA_TIMEOUT_MARGIN_MS": str(margin_ms),
        }
    )


def sleeper(seconds: float) -> Callable[[Any, Any], str]:
    """A traced handler that takes ``seconds`` and then answers "ok"."""

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        time.sleep(seconds)
        return "ok"

    return handler


def bundles_with_spans(acceptor: Any) -> List[Any]:
    return [b for b in acceptor.bundles if b.get("spans")]


def test_guard_reports_before_the_deadline_while_the_handler_still_runs(acceptor: Any) -> None:
    configure(acceptor, margin_ms=200)
    finished = threading.Event()

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        time.sleep(0.9)
        finished.set()
        return "late"

    outcome: List[Any] = []
    started = time.monotonic()
    worker = threading.Thread(
        target=lambda: outcome.append(handler({}, make_context(timeout_ms=600)))
    )
    worker.start()
    spans = acceptor.wait_for_spans(1, timeout=2)
    reported_after = time.monotonic() - started
    assert not finished.is_set(), "the span must leave before the handler ends"
    assert 0.3 < reported_after < 0.8
    worker.join()
    assert outcome == ["late"]
    span = spans[0]
    assert span["ec"] == 1
    assert 100 <= span["data"]["lambda"]["msleft"] <= 200
    assert "about to time out" in span["data"]["lambda"]["error"]
    assert 350 <= span["d"] <= 600
    # The normal end after the handler returned neither resent nor re-flushed the span.
    assert len(acceptor.spans()) == 1
    assert len(bundles_with_spans(acceptor)) == 1
    instana.configure(environ={})


def test_guard_then_exception_is_reraised_and_not_reported_twice(acceptor: Any) -> None:
    configure(acceptor, margin_ms=200)

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        time.sleep(0.6)
        raise TimeoutError("db too slow")

    with pytest.raises(TimeoutError, match="db too slow"):
        handler({}, make_context(timeout_ms=500))
    spans = acceptor.spans()
    assert len(spans) == 1
    assert spans[0]["ec"] == 1
    assert "msleft" in spans[0]["data"]["lambda"]
    instana.configure(environ={})


def test_guard_never_fires_in_a_later_invocation(acceptor: Any) -> None:
    configure(acceptor, margin_ms=200)

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        time.sleep(event["sleep"])
        return "ok"

    # Armed for 0.3 s from now, but the invocation ends at once.
    handler({"sleep": 0}, make_context(timeout_ms=500, request_id="first"))
    # The next one outlives the first one's report time by far, within its own deadline.
    handler({"sleep": 0.6}, make_context(timeout_ms=30_000, request_id="second"))
    spans = acceptor.spans()
    assert [s["data"]["lambda"]["reqId"] for s in spans] == ["first", "second"]
    assert all("msleft" not in s["data"]["lambda"] and s["ec"] == 0 for s in spans)
    instana.configure(environ={})


def test_short_deadlines_are_not_guarded(acceptor: Any) -> None:
    configure(acceptor, margin_ms=200)
    handler = sleeper(0.35)
    handler({}, make_context(timeout_ms=350))  # below twice the margin
    span = acceptor.spans()[0]
    assert "msleft" not in span["data"]["lambda"] and span["ec"] == 0
    instana.configure(environ={})


def test_margin_is_configurable_and_zero_disables(acceptor: Any) -> None:
    configure(acceptor, margin_ms=0)
    handler = sleeper(0.5)
    handler({}, make_context(timeout_ms=400))
    assert "msleft" not in acceptor.spans()[0]["data"]["lambda"]

    acceptor.clear()
    configure(acceptor, margin_ms=350)
    handler({}, make_context(timeout_ms=800))
    span = acceptor.spans()[0]
    assert 250 <= span["data"]["lambda"]["msleft"] <= 350
    instana.configure(environ={})


def test_guard_unit_disarm_and_stale_request() -> None:
    guard = TimeoutGuard()
    fired: List[str] = []
    armed = guard.arm(0.05, "a", lambda: fired.append("a"))
    guard.disarm(armed)
    time.sleep(0.1)
    assert fired == []

    guard.arm(0.05, "b", lambda: fired.append("b"))
    # A new invocation started (the runtime moved on) without "b" being disarmed.
    guard.current_request_id = "c"
    time.sleep(0.1)
    assert fired == []

    armed = guard.arm(0.02, "d", lambda: fired.append("d"))
    time.sleep(0.1)
    assert fired == ["d"]
    guard.disarm(armed)


def test_disarm_waits_for_a_report_in_progress() -> None:
    guard = TimeoutGuard()
    order: List[str] = []
    started = threading.Event()

    def slow_report() -> None:
        started.set()
        time.sleep(0.2)
        order.append("reported")

    armed = guard.arm(0.0, "x", slow_report)
    assert started.wait(1)
    guard.disarm(armed)
    order.append("disarmed")
    assert order == ["reported", "disarmed"]


def test_failing_report_does_not_kill_the_guard() -> None:
    guard = TimeoutGuard()
    fired: List[str] = []

    def broken() -> None:
        raise RuntimeError("bug")

    guard.arm(0.0, "x", broken)
    time.sleep(0.05)
    guard.arm(0.0, "y", lambda: fired.append("y"))
    time.sleep(0.05)
    assert fired == ["y"]


def test_options_margin(acceptor: Any) -> None:
    configure_for(acceptor, timeout_margin_ms=300)
    handler = sleeper(0.5)
    handler({}, make_context(timeout_ms=700))
    assert 200 <= acceptor.spans()[0]["data"]["lambda"]["msleft"] <= 300
    instana.configure(environ={})


def test_shorter_deadline_after_longer_ones_still_fires() -> None:
    guard = TimeoutGuard()
    fired: List[str] = []
    for i in range(50):
        guard.disarm(guard.arm(30, f"long-{i}", lambda: fired.append("long")))
    guard.arm(0.05, "short", lambda: fired.append("short"))
    time.sleep(0.25)
    assert fired == ["short"]


def test_later_deadline_fires_after_a_stale_wake_up() -> None:
    guard = TimeoutGuard()
    fired: List[float] = []
    started = time.monotonic()
    guard.disarm(guard.arm(0.05, "first", lambda: fired.append(-1.0)))
    # Armed without waking the thread: it wakes for the stale 0.05 s and sleeps on.
    guard.arm(0.2, "second", lambda: fired.append(time.monotonic() - started))
    time.sleep(0.45)
    assert len(fired) == 1 and 0.19 <= fired[0] < 0.4


class HugeDeadlineContext:
    """A context whose remaining time is absurd (issue: 10**20 ms killed the guard thread)."""

    aws_request_id = "huge"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:orders"
    function_name = "orders"
    function_version = "7"
    client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return 10**20


def test_huge_remaining_time_does_not_kill_the_guard(
    acceptor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(acceptor, margin_ms=200)
    died: List[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    decorator_guard = decorator.guard()
    # A guard thread already running, due to wake up in 0.3 s, then the absurd deadline on an
    # invocation still running when it wakes.
    sleeper(0)({}, make_context(timeout_ms=500, request_id="before"))
    assert sleeper(0.5)({}, HugeDeadlineContext()) == "ok"
    # A fresh guard thread meeting the absurd deadline first.
    fresh = TimeoutGuard()
    armed = fresh.arm(10**17, "huge-direct", lambda: None)
    time.sleep(0.2)
    fresh.disarm(armed)
    assert died == []
    assert decorator_guard._thread is not None and decorator_guard._thread.is_alive()
    assert fresh._thread is not None and fresh._thread.is_alive()
    # And it still reports a real timeout afterwards.
    handler = sleeper(0.6)
    handler({}, make_context(timeout_ms=500, request_id="after"))
    reported = [s for s in acceptor.spans() if s["data"]["lambda"]["reqId"] == "after"]
    assert len(reported) == 1 and "msleft" in reported[0]["data"]["lambda"]
    instana.configure(environ={})


def test_arming_and_disarming_do_not_wake_the_thread() -> None:
    """The guard thread is not woken per invocation: a run of invocations with the usual
    deadline costs no thread switch at all (it wakes about once per function timeout)."""
    guard = TimeoutGuard()
    first = guard.arm(30, "first", lambda: None)
    time.sleep(0.05)  # the thread has started and sleeps until the first deadline
    guard.disarm(first)
    before = guard.wakeups
    for i in range(1000):
        guard.disarm(guard.arm(30, f"call-{i}", lambda: None))
    time.sleep(0.05)
    assert guard.wakeups == before

    # The same deadline again and again (a re-used context), read in whole milliseconds.
    guard = TimeoutGuard()
    deadline = time.monotonic() + 30
    first = guard.arm(deadline - time.monotonic(), "same", lambda: None)
    time.sleep(0.05)  # the thread sleeps until exactly this deadline
    guard.disarm(first)
    before = guard.wakeups
    for i in range(1000):
        left = deadline - time.monotonic() - (i % 3) / 1000
        guard.disarm(guard.arm(left, f"same-{i}", lambda: None))
    time.sleep(0.05)
    assert guard.wakeups == before
