"""Spans, the active-span context, custom spans and the wire form."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Dict, List, Optional

import pytest

import instana_serverless as instana
from instana_serverless.propagation import extract
from instana_serverless.span import ENTRY, EXIT, INTERMEDIATE, Span
from instana_serverless.tracer import activate, current_span, restore, start_child, start_entry
from tests.conftest import span_name


def finished_collector() -> tuple[List[Span], Any]:
    done: List[Span] = []
    return done, done.append


def test_ids_are_16_lower_hex_and_unique() -> None:
    spans = [start_entry("x", on_finish=None) for _ in range(200)]
    ids = {s.span_id for s in spans} | {s.trace_id for s in spans}
    assert len(ids) == 400
    assert all(len(i) == 16 and i == i.lower() and int(i, 16) > 0 for i in ids)


def test_entry_continues_incoming_trace_and_children_link() -> None:
    done, hook = finished_collector()
    entry = start_entry(
        "e", extract({"X-INSTANA-T": "a" * 16, "X-INSTANA-S": "b" * 16}), on_finish=hook
    )
    token = activate(entry)
    child = start_child("urllib3")
    assert child is not None
    child.finish()
    restore(token)
    entry.finish()
    assert entry.trace_id == "a" * 16 and entry.parent_id == "b" * 16
    assert child.trace_id == entry.trace_id and child.parent_id == entry.span_id
    assert child.kind == EXIT and entry.kind == ENTRY
    assert done == [child, entry]


def test_no_exit_span_outside_a_trace() -> None:
    assert current_span() is None
    assert start_child("urllib3") is None


def test_suppressed_trace_records_nothing() -> None:
    done, hook = finished_collector()
    entry = start_entry("e", extract({"X-INSTANA-L": "0"}), on_finish=hook)
    child = start_child("urllib3", parent=entry)
    assert child is not None and not child.recording
    child.finish()
    entry.finish()
    assert done == []


def test_wire_form_has_no_null_keys_and_entry_extras() -> None:
    incoming = extract(
        {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "in=1234567890abcdef;fedcba0987654321",
            "X-INSTANA-SYNTHETIC": "1",
        }
    )
    entry = start_entry("e", incoming, on_finish=None, data={"x": {"y": 1}})
    entry.finish()
    wire = entry.to_wire({"hl": True, "cp": "aws", "e": "arn"})
    assert None not in wire.values()
    assert wire["lt"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert wire["t"] == "a3ce929d0e0e4736"
    assert wire["p"] == "00f067aa0ba902b7"
    assert wire["tp"] is True and wire["sy"] is True
    assert wire["ia"] == {"t": "1234567890abcdef", "p": "fedcba0987654321"}
    assert wire["k"] == 1 and isinstance(wire["ts"], int) and wire["d"] >= 0
    assert wire["f"] == {"hl": True, "cp": "aws", "e": "arn"}
    json.dumps(wire)  # serialisable as is


def test_root_entry_has_no_parent_key() -> None:
    entry = start_entry("e", None, on_finish=None)
    entry.finish()
    assert "p" not in entry.to_wire({})


def test_error_recording_goes_to_error_path() -> None:
    entry = start_entry("e", None, on_finish=None, error_path=("lambda",))
    entry.record_exception(ValueError("boom"))
    assert entry.error_count == 1
    assert entry.data == {"lambda": {"error": "ValueError: boom"}}


def test_finish_is_idempotent() -> None:
    done, hook = finished_collector()
    entry = start_entry("e", None, on_finish=hook)
    entry.finish()
    entry.finish()
    assert done == [entry]


def test_threads_see_their_own_active_span() -> None:
    seen: Dict[str, Optional[Span]] = {}
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        span = start_entry(name, None, on_finish=None)
        token = activate(span)
        barrier.wait()  # both threads have activated before either reads
        seen[name] = current_span()
        restore(token)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["a"] is not None and seen["a"].name == "a"
    assert seen["b"] is not None and seen["b"].name == "b"
    assert current_span() is None


def test_asyncio_tasks_see_their_own_active_span() -> None:
    async def task(name: str) -> Optional[str]:
        span = start_entry(name, None, on_finish=None)
        activate(span)
        await asyncio.sleep(0.01)
        active = current_span()
        return active.name if active else None

    async def main() -> List[Optional[str]]:
        return list(await asyncio.gather(task("one"), task("two"), task("three")))

    assert asyncio.run(main()) == ["one", "two", "three"]


def test_custom_span_inside_entry_is_intermediate(client: Any, acceptor: Any) -> None:
    with instana.entry_span("job") as entry:
        with instana.span("step", tags={"rows": 3}) as step:
            assert current_span() is step
        assert current_span() is entry
    spans = acceptor.wait_for_spans(2)
    by_name = {span_name(s): s for s in spans}
    assert by_name["step"]["n"] == "sdk" and by_name["step"]["k"] == INTERMEDIATE
    assert by_name["step"]["p"] == by_name["job"]["s"]
    assert by_name["step"]["data"]["sdk"] == {
        "name": "step",
        "type": "intermediate",
        "custom": {"tags": {"rows": 3}},
    }


def test_custom_span_records_and_reraises(client: Any, acceptor: Any) -> None:
    with pytest.raises(KeyError), instana.span("alone"):
        raise KeyError("k")
    instana.flush()
    (sdk,) = acceptor.wait_for_spans(1)
    assert sdk["k"] == ENTRY and sdk["ec"] == 1
    assert "KeyError" in sdk["data"]["sdk"]["custom"]["tags"]["error"]


def test_invocation_end_from_racing_threads_records_and_flushes_once() -> None:
    """The Lambda timeout guard and the returning handler may end the same invocation."""
    from instana_serverless.invocation import Invocation
    from instana_serverless.span import Trace

    class CountingClient:
        flushes = 0

        def flush(self) -> bool:
            CountingClient.flushes += 1
            return True

    class SlowToDescribe(RuntimeError):
        # Widens the window between "is it ended?" and "end it" so both threads are inside.
        def __str__(self) -> str:
            time.sleep(0.05)
            return "slow"

    span = Span(Trace("ab" * 8), "cd" * 8, None, "race", ENTRY, None, None, ())
    invocation = Invocation(CountingClient(), span)  # type: ignore[arg-type]
    threads = [threading.Thread(target=invocation.end, args=(SlowToDescribe(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert span.error_count == 1
    assert CountingClient.flushes == 1


def test_entry_span_sends_the_sdk_form_unless_the_name_is_registered(
    client: Any, acceptor: Any
) -> None:
    with instana.entry_span("nightly-import", data={"rows": 120}):
        pass
    with pytest.raises(ValueError), instana.entry_span("job"):
        raise ValueError("bad row")
    with instana.entry_span("rabbitmq", data={"rabbitmq": {"sort": "consume", "queue": "q"}}):
        pass
    custom, failed, registered = acceptor.wait_for_spans(3)
    assert custom["n"] == "sdk" and custom["k"] == ENTRY
    assert custom["data"]["sdk"] == {
        "name": "nightly-import",
        "type": "entry",
        "custom": {"tags": {"rows": 120}},
    }
    assert failed["n"] == "sdk" and failed["ec"] == 1
    assert failed["data"]["sdk"]["name"] == "job"
    assert failed["data"]["sdk"]["custom"]["tags"] == {"error": "ValueError: bad row"}
    assert registered["n"] == "rabbitmq" and registered["k"] == ENTRY
    assert registered["data"]["rabbitmq"] == {"sort": "consume", "queue": "q"}


def test_new_traces_get_two_distinct_random_ids_each() -> None:
    from instana_serverless.ids import is_hex, new_id_pair

    spans = [start_entry("sdk", on_finish=None) for _ in range(2000)]
    ids = [span.trace_id for span in spans] + [span.span_id for span in spans]
    assert len(set(ids)) == len(ids)  # no id twice, trace or span
    assert all(len(i) == 16 and is_hex(i) and i == i.lower() for i in ids)
    first, second = new_id_pair()
    assert first != second and len(first) == len(second) == 16
