"""open_entry(): the entry span a consumer or server instrumentation opens per unit of work."""

from __future__ import annotations

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation._entry import open_entry

TRACE = "1234567890abcdef"
PARENT = "fedcba0987654321"


def test_continues_the_carried_context_and_flushes_when_it_ends(
    client: Client, acceptor: Acceptor
) -> None:
    carrier = {"x-instana-t": TRACE, "x-instana-s": PARENT}
    with open_entry("kafka", carrier, data={"kafka": {"access": "consume"}}, error_path=("kafka",)):
        pass
    (span,) = acceptor.wait_for_spans(1)  # flushed by the end of the entry itself
    assert (span["n"], span["k"], span["t"], span["p"]) == ("kafka", 1, TRACE, PARENT)
    assert span["data"]["kafka"] == {"access": "consume"}


def test_without_context_it_joins_the_active_trace_and_leaves_the_send_to_it(
    client: Client, acceptor: Acceptor
) -> None:
    with instana.entry_span("poller", flush=False) as outer:
        with open_entry("kafka", {}, error_path=("kafka",)) as inner:
            assert inner.trace is outer.trace
        assert acceptor.spans() == []  # nested: the outer unit of work sends it
    instana.flush()
    spans = {s["n"]: s for s in acceptor.wait_for_spans(2)}
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


def test_an_entry_is_sent_by_the_platforms_send_rule(
    client: Client, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middleware's request hook (Cloud Run: flush with metrics; Fargate: the background
    reporter), not a plain flush: a gRPC service follows the rule of HTTP services there."""
    from instana_serverless import middleware
    from instana_serverless.instrumentation import _entry

    handed: list[Client] = []
    monkeypatch.setattr(_entry, "_sender", [])
    monkeypatch.setattr(middleware, "request_hook", lambda flush=None: (handed.append, False))
    with open_entry("rpc-server", None):
        pass
    assert handed == [client]
    assert acceptor.spans() == []  # the hook (here: one that keeps it) decides, not a flush
    with instana.entry_span("poller", flush=False), open_entry("kafka", {}):
        pass
    assert handed == [client]  # nested: the outer work sends it


def test_on_fargate_an_entry_is_left_to_the_background_reporter(
    client: Client, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instana_serverless.fargate import reporter
    from instana_serverless.instrumentation import _entry

    started: list[object] = []
    monkeypatch.setattr(_entry, "_sender", [])
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE")
    monkeypatch.setattr(reporter, "start", lambda *args: started.append(args))
    with open_entry("rpc-server", None):
        pass
    assert started  # the reporter is kept running, and it sends
    assert acceptor.spans() == [] and len(client.buffer) == 1  # nothing sent inline
