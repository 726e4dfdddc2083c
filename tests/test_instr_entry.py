"""open_entry(): the entry span a consumer or server instrumentation opens per unit of work."""

from __future__ import annotations

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation._entry import open_entry
from tests.conftest import span_name

TRACE = "1234567890abcdef"
PARENT = "fedcba0987654321"


def test_continues_the_carried_context_and_flushes_when_it_ends(
    client: Client, acceptor: Acceptor
) -> None:
    carrier = {"x-instana-t": TRACE, "x-instana-s": PARENT}
    with open_entry("kafka", carrier, data={"kafka": {"access": "consume"}}, error_path=("kafka",)):
        pass
    (span,) = acceptor.wait_for_spans(1)  # flushed by the end of the entry itself
    assert (span_name(span), span["k"], span["t"], span["p"]) == ("kafka", 1, TRACE, PARENT)
    assert span["data"]["kafka"] == {"access": "consume"}


def test_without_context_it_joins_the_active_trace_and_leaves_the_send_to_it(
    client: Client, acceptor: Acceptor
) -> None:
    with instana.entry_span("poller", flush=False) as outer:
        with open_entry("kafka", {}, error_path=("kafka",)) as inner:
            assert inner.trace is outer.trace
        assert acceptor.spans() == []  # nested: the outer unit of work sends it
    instana.flush()
    spans = {span_name(s): s for s in acceptor.wait_for_spans(2)}
    assert spans["kafka"]["p"] == spans["poller"]["s"]
    assert spans["kafka"]["t"] == spans["poller"]["t"]


def test_an_error_marks_the_entry_and_is_reraised(client: Client, acceptor: Acceptor) -> None:
    with (
        pytest.raises(ValueError, match="bad message"),
        open_entry(
            "rabbitmq", None, data={"rabbitmq": {"sort": "consume"}}, error_path=("rabbitmq",)
        ),
    ):
        raise ValueError("bad message")
    (span,) = acceptor.wait_for_spans(1)
    assert span["ec"] == 1
    assert "bad message" in span["data"]["rabbitmq"]["error"]


def test_a_suppressed_carrier_records_nothing(client: Client, acceptor: Acceptor) -> None:
    with open_entry("kafka", {"x-instana-l": "0"}) as span:
        assert not span.recording
    instana.flush()
    assert acceptor.spans() == []


def test_held_entries_end_at_release_or_with_the_work_they_ran_in(
    client: Client, acceptor: Acceptor
) -> None:
    from instana_serverless.instrumentation._entry import hold, release_held
    from instana_serverless.tracer import current_span

    # a consumer polling many records inside one unit of work: the outer span's hook is
    # installed once (a chain of hooks would overflow the stack at its end)
    with instana.entry_span("poller", flush=False) as outer:
        held = []
        for _ in range(1500):
            release_held()  # the consumer is called again (as _kafka.before_call does)
            invocation = open_entry("kafka", None, error_path=("kafka",))
            hold([invocation], active=True)
            assert current_span() is invocation.span
            held.append(invocation.span)
        assert len(outer._on_finish.instana_held) == 1  # type: ignore[union-attr]
        assert all(span.finished for span in held[:-1]) and not held[-1].finished
    assert held[-1].finished  # ended just before the poller's span
    release_held()  # the consumer's next call: nothing left to do
    assert current_span() is None
    instana.flush()
    spans = acceptor.wait_for_spans(2)
    assert {s["p"] for s in spans if s["n"] == "kafka"} == {outer.span_id}
