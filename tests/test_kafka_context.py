"""kafka_context: the string and legacy binary record-header formats, written and read back,
against the byte layouts of Instana's Go and Node.js collectors."""

from __future__ import annotations

from typing import Any

import pytest

from instana_serverless.kafka_context import BINARY, BOTH, STRING, decode, encode
from instana_serverless.propagation import extract

TRACE = "1234567890abcdef"
SPAN = "fedcba0987654321"


def test_string_format() -> None:
    assert encode(TRACE, SPAN, recording=True, header_format=STRING) == [
        ("x_instana_t", b"0000000000000000" + TRACE.encode()),
        ("x_instana_s", SPAN.encode()),
        ("x_instana_l_s", b"1"),
    ]


def test_string_format_keeps_a_128_bit_trace_id() -> None:
    long_id = "0af7651916cd43dd" + TRACE
    (t, _s, _l) = encode(TRACE, SPAN, recording=True, header_format=STRING, long_trace_id=long_id)
    assert t == ("x_instana_t", long_id.encode())
    assert decode([t, _s])["x-instana-t"] == long_id  # type: ignore[index]


@pytest.mark.parametrize("header_format", [STRING, BINARY])
def test_a_128_bit_trace_id_travels_in_either_format(header_format: str) -> None:
    long_id = "0af7651916cd43dd" + TRACE
    headers = encode(
        TRACE, SPAN, recording=True, header_format=header_format, long_trace_id=long_id
    )
    context = extract(decode(headers))
    assert (context.trace_id, context.long_trace_id, context.parent_id) == (TRACE, long_id, SPAN)


def test_binary_format_is_the_go_sensors_layout() -> None:
    # PackTraceContextHeader: 24 bytes, trace id right-aligned in 16, span id in the last 8
    assert encode(TRACE, SPAN, recording=True, header_format=BINARY) == [
        ("X_INSTANA_C", bytes(8) + bytes.fromhex(TRACE) + bytes.fromhex(SPAN)),
        ("X_INSTANA_L", b"\x01"),
    ]


def test_both_formats() -> None:
    names = [name for name, _ in encode(TRACE, SPAN, recording=True, header_format=BOTH)]
    assert names == ["x_instana_t", "x_instana_s", "x_instana_l_s", "X_INSTANA_C", "X_INSTANA_L"]


@pytest.mark.parametrize(
    ("header_format", "expected"),
    [
        (STRING, [("x_instana_l_s", b"0")]),
        (BINARY, [("X_INSTANA_L", b"\x00")]),
        (BOTH, [("x_instana_l_s", b"0"), ("X_INSTANA_L", b"\x00")]),
    ],
)
def test_a_suppressed_trace_passes_only_level_zero(header_format: str, expected: Any) -> None:
    assert encode(TRACE, SPAN, recording=False, header_format=header_format) == expected
    assert decode(expected) == {"x-instana-l": "0"}


@pytest.mark.parametrize("header_format", [STRING, BINARY, BOTH])
def test_every_format_reads_back(header_format: str) -> None:
    headers = encode(TRACE, SPAN, recording=True, header_format=header_format)
    carrier = decode([("user", b"value"), *headers])
    assert carrier == {"x-instana-t": TRACE, "x-instana-s": SPAN, "x-instana-l": "1"}
    context = extract(carrier)
    assert (context.trace_id, context.parent_id, context.long_trace_id) == (TRACE, SPAN, None)


def test_upper_case_names_and_text_values_as_the_go_and_nodejs_collectors_write() -> None:
    carrier = decode({"X_INSTANA_T": "0" * 16 + TRACE, "X_INSTANA_S": SPAN, "X_INSTANA_L_S": "1"})
    assert carrier == {"x-instana-t": TRACE, "x-instana-s": SPAN, "x-instana-l": "1"}


def test_string_headers_win_over_binary_ones() -> None:
    other = "00000000000000aa"
    headers = [
        ("X_INSTANA_C", bytes(8) + bytes.fromhex(other) + bytes.fromhex(other)),
        ("x_instana_t", TRACE.encode()),
        ("x_instana_s", SPAN.encode()),
    ]
    assert decode(headers) == {"x-instana-t": TRACE, "x-instana-s": SPAN}


def test_lambda_event_headers_arrays_of_byte_values() -> None:
    """MSK and self-managed Kafka events: a list of one-entry maps of byte-value lists."""
    headers = [
        {name: list(value)}
        for name, value in encode(TRACE, SPAN, recording=True, header_format=BINARY)
    ]
    assert decode(headers) == {"x-instana-t": TRACE, "x-instana-s": SPAN, "x-instana-l": "1"}


def test_a_binary_128_bit_trace_id() -> None:
    upper = "0af7651916cd43dd"
    value = bytes.fromhex(upper + TRACE) + bytes.fromhex(SPAN)
    assert decode([("X_INSTANA_C", value)]) == {
        "x-instana-t": upper + TRACE,
        "x-instana-s": SPAN,
    }


def test_w3c_headers_of_other_producers_are_read() -> None:
    parent = f"00-{'ab' * 16}-{SPAN}-01"
    assert decode([("traceparent", parent.encode())]) == {"traceparent": parent}


@pytest.mark.parametrize(
    "headers",
    [
        None,
        [],
        "x_instana_t",
        5,
        [("x_instana_t", None)],
        [("x_instana_t", 7)],
        [("x_instana_t", b"\xff\xfe")],
        [("X_INSTANA_C", b"short")],
        [("X_INSTANA_L", b"\x00\x00")],
        [{"x_instana_t": [300, 1]}],
        [{"x_instana_t": ["a"]}],
        [{"x_instana_t": list(range(200)) * 5}],
        [(None, b"x"), (b"x_instana_s", b"\xff")],
        [("a", "b", "c")],
        [("user", b"value")],
    ],
)
def test_bad_headers_are_no_context(headers: Any) -> None:
    carrier = decode(headers)
    assert carrier is None or extract(carrier).continues_trace is False


def test_byte_names_are_read() -> None:
    assert decode([(b"x_instana_t", TRACE.encode()), (b"x_instana_s", SPAN.encode())]) == {
        "x-instana-t": TRACE,
        "x-instana-s": SPAN,
    }
