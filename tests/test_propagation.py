"""Trace context extraction and injection over headers (docs/CONTRACT.md §5)."""

from __future__ import annotations

from typing import Any, Dict

from hypothesis import given, settings
from hypothesis import strategies as st

from instana_serverless.propagation import (
    MAX_TRACESTATE_MEMBERS,
    extract,
    outgoing_headers,
)

TP_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TP_PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TP_TRACE}-{TP_PARENT}-01"


def test_instana_headers_any_case_continue_the_trace() -> None:
    ctx = extract({"x-Instana-T": "ABCDEF0123456789", "X-INSTANA-S": "1234", "X-Instana-L": "1"})
    assert ctx.trace_id == "abcdef0123456789"
    assert ctx.parent_id == "0000000000001234"
    assert ctx.long_trace_id is None
    assert not ctx.suppressed
    assert not ctx.traceparent_used


def test_128_bit_instana_trace_id_keeps_long_form() -> None:
    ctx = extract({"X-INSTANA-T": "1" * 8 + "a" * 24, "X-INSTANA-S": "b" * 16})
    assert ctx.long_trace_id == "1" * 8 + "a" * 24
    assert ctx.trace_id == "a" * 16


def test_traceparent_used_when_no_instana_headers() -> None:
    ctx = extract(
        {
            "traceparent": TRACEPARENT,
            "tracestate": "rojo=00f067aa0ba902b7,in=1234567890abcdef;fedcba0987654321",
        }
    )
    assert ctx.trace_id == TP_TRACE[16:]
    assert ctx.long_trace_id == TP_TRACE
    assert ctx.parent_id == TP_PARENT
    assert ctx.traceparent_used
    assert ctx.instana_ancestor == ("1234567890abcdef", "fedcba0987654321")
    assert ctx.tracestate == ("rojo=00f067aa0ba902b7",)


def test_instana_headers_win_over_traceparent_but_w3c_trace_id_is_kept() -> None:
    ctx = extract({"X-INSTANA-T": "a" * 16, "X-INSTANA-S": "b" * 16, "traceparent": TRACEPARENT})
    assert ctx.trace_id == "a" * 16
    assert not ctx.traceparent_used
    assert ctx.w3c_trace_id == TP_TRACE


def test_w3c_correlation_disabled_starts_new_trace_with_ancestor() -> None:
    ctx = extract(
        {"traceparent": TRACEPARENT, "tracestate": "in=1234567890abcdef;fedcba0987654321"},
        w3c_correlation=False,
    )
    assert not ctx.continues_trace
    assert ctx.instana_ancestor == ("1234567890abcdef", "fedcba0987654321")


def test_level_zero_suppresses() -> None:
    assert extract({"X-INSTANA-L": "0"}).suppressed
    assert extract({"X-INSTANA-L": "0,correlationType=web;correlationId=1"}).suppressed
    assert not extract({"X-INSTANA-L": "1"}).suppressed


def test_correlation_starts_new_trace() -> None:
    ctx = extract(
        {
            "X-INSTANA-T": "a" * 16,
            "X-INSTANA-S": "b" * 16,
            "X-INSTANA-L": "1, correlationType=web; correlationId=5b2e",
        }
    )
    assert not ctx.continues_trace
    assert (ctx.correlation_type, ctx.correlation_id) == ("web", "5b2e")


def test_synthetic_flag() -> None:
    assert extract({"X-INSTANA-SYNTHETIC": "1"}).synthetic
    assert not extract({"X-INSTANA-SYNTHETIC": "yes"}).synthetic


def test_multi_value_headers_are_read() -> None:
    ctx = extract({}, {"X-Instana-T": ["c" * 16], "X-Instana-S": ["d" * 16, "e" * 16]})
    assert (ctx.trace_id, ctx.parent_id) == ("c" * 16, "d" * 16)


def test_multi_value_tracestate_is_joined() -> None:
    ctx = extract(
        {
            "traceparent": [TRACEPARENT],
            "tracestate": ["a=1", "b=2,in=1111111111111111;2222222222222222"],
        }
    )
    assert ctx.tracestate == ("a=1", "b=2")
    assert ctx.instana_ancestor == ("1" * 16, "2" * 16)


def test_malformed_values_start_a_new_trace() -> None:
    bad: list[Dict[str, Any]] = [
        {"X-INSTANA-T": "xyz", "X-INSTANA-S": "b" * 16},
        {"X-INSTANA-T": "a" * 16},  # half a context is no context
        {"X-INSTANA-T": "0" * 16, "X-INSTANA-S": "b" * 16},
        {"X-INSTANA-T": "a" * 33, "X-INSTANA-S": "b" * 16},
        {"X-INSTANA-T": "0x" + "a" * 14, "X-INSTANA-S": "b" * 16},
        {"X-INSTANA-T": 12345, "X-INSTANA-S": None},
        {"traceparent": "ff-" + TP_TRACE + "-" + TP_PARENT + "-01"},
        {"traceparent": "00-" + "0" * 32 + "-" + TP_PARENT + "-01"},
        {"traceparent": "00-" + TP_TRACE + "-" + TP_PARENT + "-01-extra"},
        {"traceparent": "00-" + TP_TRACE + "-" + TP_PARENT},
        {"X-INSTANA-T": "a" * 10_000, "X-INSTANA-S": "b" * 16},
    ]
    for headers in bad:
        assert not extract(headers).continues_trace, headers


def test_oversized_tracestate_ignored_and_members_capped() -> None:
    assert extract({"tracestate": "a=" + "x" * 9000}).tracestate == ()
    many = ",".join(f"k{i}=v{i}" for i in range(50))
    assert (
        len(extract({"traceparent": TRACEPARENT, "tracestate": many}).tracestate)
        == MAX_TRACESTATE_MEMBERS - 1
    )


def test_inject_writes_instana_and_w3c() -> None:
    headers = outgoing_headers("a" * 16, "b" * 16, TP_TRACE, ("rojo=1", "in=old;old"))
    assert headers["X-INSTANA-T"] == "a" * 16
    assert headers["X-INSTANA-S"] == "b" * 16
    assert headers["X-INSTANA-L"] == "1"
    assert headers["traceparent"] == f"00-{TP_TRACE}-{'b' * 16}-01"
    assert headers["tracestate"].startswith(f"in={'a' * 16};{'b' * 16},rojo=1")


def test_inject_keeps_at_most_32_tracestate_members() -> None:
    members = tuple(f"k{i}=v" for i in range(40))
    headers = outgoing_headers("a" * 16, "b" * 16, TP_TRACE, members)
    assert len(headers["tracestate"].split(",")) == MAX_TRACESTATE_MEMBERS


def test_inject_suppressed_passes_level_zero_only() -> None:
    headers = outgoing_headers("a" * 16, "b" * 16, TP_TRACE, (), suppressed=True)
    assert headers["X-INSTANA-L"] == "0"
    assert "X-INSTANA-T" not in headers
    assert headers["traceparent"].startswith(f"00-{TP_TRACE}-") and headers["traceparent"].endswith(
        "-00"
    )


def test_round_trip_through_inject_and_extract() -> None:
    headers = outgoing_headers("a" * 16, "b" * 16, "0" * 16 + "a" * 16, ())
    ctx = extract(headers)
    assert (ctx.trace_id, ctx.parent_id) == ("a" * 16, "b" * 16)


header_names = st.sampled_from(
    [
        "X-INSTANA-T",
        "x-instana-s",
        "X-Instana-L",
        "X-INSTANA-SYNTHETIC",
        "traceparent",
        "TraceState",
        "other",
    ]
) | st.text(max_size=20)
header_values = (
    st.text(max_size=80)
    | st.from_regex(r"[0-9a-fA-F]{0,40}", fullmatch=True)
    | st.from_regex(r"0[0-9a-f]-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", fullmatch=True)
    | st.lists(st.text(max_size=40), max_size=3)
    | st.none()
    | st.integers()
    | st.binary(max_size=20)
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(header_names, header_values, max_size=8), st.booleans())
def test_extract_never_raises_on_arbitrary_headers(headers: Dict[Any, Any], w3c: bool) -> None:
    ctx = extract(headers, headers, w3c_correlation=w3c)
    if ctx.trace_id is not None:
        assert len(ctx.trace_id) == 16 and ctx.trace_id == ctx.trace_id.lower()
    if ctx.parent_id is not None:
        assert len(ctx.parent_id) == 16
    assert len(ctx.tracestate) < MAX_TRACESTATE_MEMBERS
