"""httpx exit spans (sync ``Client`` and async ``AsyncClient``) against the loopback service.

What every entry shares (patching, disabling, suppression, errors) is in
tests/test_instrumentation_contract.py; this file checks httpx's own data and headers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List

import httpx
import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from tests.conftest import configure_for
from tests.http_service import Downstream
from tests.instr_support import TRACE_HEADERS, traced

__all__ = ["traced"]  # a fixture, used by name as a test argument


def http_exits(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if s["n"] == "http"]


def sync_get(url: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client() as client:
        return client.get(url, **kwargs)


def async_get(url: str, **kwargs: Any) -> httpx.Response:
    async def get() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(url, **kwargs)

    return asyncio.run(get())


@pytest.mark.parametrize("get", [sync_get, async_get], ids=["sync", "async"])
def test_send_gets_an_http_exit_span_and_trace_headers(
    traced: Client, acceptor: Acceptor, downstream: Downstream, get: Any
) -> None:
    user_headers = {"X-Request-Id": "abc-123", "X-Instana-T": "1111111111111111"}  # stale
    with instana.entry_span("job") as entry:
        response = get(f"{downstream.url}/orders/7?api_key=s3cr3t&page=2", headers=user_headers)
    assert response.status_code == 200 and response.json() == {"ok": True}

    (exit_span,) = http_exits(acceptor.wait_for_spans(2))
    assert exit_span["k"] == 2 and exit_span["ec"] == 0
    assert exit_span["t"] == entry.trace_id and exit_span["p"] == entry.span_id
    assert exit_span["data"]["http"] == {
        "method": "GET",
        "url": f"{downstream.url}/orders/7",
        "host": downstream.address,
        "path": "/orders/7",
        "params": "api_key=<redacted>&page=2",
        "status": 200,
    }
    assert "s3cr3t" not in json.dumps(acceptor.bundles)
    raw = downstream.requests[0]["raw_headers"]
    ours = dict((k.lower(), v) for k, v in raw if k.lower() in TRACE_HEADERS)
    assert sorted(k.lower() for k, _ in raw if k.lower() in TRACE_HEADERS) == sorted(
        TRACE_HEADERS
    )  # each exactly once: the stale one replaced
    assert ours["x-instana-t"] == entry.trace_id and ours["x-instana-s"] == exit_span["s"]
    assert ours["traceparent"] == f"00-{'0' * 16}{entry.trace_id}-{exit_span['s']}-01"
    assert downstream.requests[0]["headers"]["x-request-id"] == "abc-123"


@pytest.mark.parametrize("get", [sync_get, async_get], ids=["sync", "async"])
def test_suppressed_trace_drops_the_callers_stale_context(
    traced: Client, downstream: Downstream, get: Any
) -> None:
    # A suppressed trace sends fewer headers than a recorded one: the caller's stale
    # X-INSTANA-T/S must not travel on next to our X-INSTANA-L: 0.
    stale = {"X-Instana-T": "1111111111111111", "X-INSTANA-S": "2222222222222222"}
    with instana.entry_span("job", headers={"X-INSTANA-L": "0"}):
        assert get(f"{downstream.url}/orders/7", headers=stale).status_code == 200
    raw = downstream.requests[0]["raw_headers"]
    sent = sorted(k.lower() for k, _ in raw if k.lower() in TRACE_HEADERS)
    assert sent == ["traceparent", "x-instana-l"]
    assert downstream.requests[0]["headers"]["x-instana-l"] == "0"


@pytest.mark.parametrize("get", [sync_get, async_get], ids=["sync", "async"])
def test_server_error_marks_the_span(
    traced: Client, acceptor: Acceptor, downstream: Downstream, get: Any
) -> None:
    downstream.script["/boom"] = [(503, {})]
    with instana.entry_span("job"):
        assert get(f"{downstream.url}/boom").status_code == 503
    (exit_span,) = http_exits(acceptor.wait_for_spans(2))
    assert exit_span["ec"] == 1 and exit_span["data"]["http"]["status"] == 503
    assert exit_span["data"]["http"]["error"] == "HTTP 503"


def test_redirects_followed_by_one_send_are_one_span(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    downstream.script["/old"] = [(301, {"Location": "/new"})]
    with instana.entry_span("job"):
        assert sync_get(f"{downstream.url}/old", follow_redirects=True).status_code == 200
    (exit_span,) = http_exits(acceptor.wait_for_spans(2))
    assert exit_span["data"]["http"]["path"] == "/old"
    assert exit_span["data"]["http"]["status"] == 200
    assert [r["headers"]["x-instana-s"] for r in downstream.requests] == [exit_span["s"]] * 2


def test_extra_http_headers_are_captured(acceptor: Acceptor, downstream: Downstream) -> None:
    configure_for(acceptor, extra_http_headers=["X-Tenant", "X-Served-By"])
    uninstrument()
    instrument()
    try:
        downstream.script["/"] = [(200, {"X-Served-By": "node-3"})]
        with instana.entry_span("job"):
            async_get(f"{downstream.url}/", headers={"X-Tenant": "acme", "X-Other": "no"})
        (exit_span,) = http_exits(acceptor.wait_for_spans(2))
        assert exit_span["data"]["http"]["header"] == {"x-tenant": "acme", "x-served-by": "node-3"}
    finally:
        uninstrument()
        instana.configure(environ={})


def test_concurrent_async_requests_each_get_their_own_span(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    async def three() -> None:
        async with httpx.AsyncClient() as client:
            await asyncio.gather(*(client.get(f"{downstream.url}/p{i}") for i in range(3)))

    with instana.entry_span("job") as entry:
        asyncio.run(three())
    spans = http_exits(acceptor.wait_for_spans(4))
    assert sorted(s["data"]["http"]["path"] for s in spans) == ["/p0", "/p1", "/p2"]
    assert all(s["p"] == entry.span_id for s in spans)  # siblings, never nested in each other
    sent = {r["path"]: r["headers"]["x-instana-s"] for r in downstream.requests}
    assert sent == {s["data"]["http"]["path"]: s["s"] for s in spans}


def test_trace_headers_are_added_as_setting_them_one_by_one_would() -> None:
    # The fast way in (appended to httpx's header list when none of ours is there) must leave
    # the request's headers exactly as httpx's own ``headers[name] = value`` does.
    from instana_serverless.instrumentation import httpx as ours

    recorded = {
        "X-INSTANA-T": "1234567890abcdef",
        "X-INSTANA-S": "fedcba0987654321",
        "X-INSTANA-L": "1",
        "traceparent": "00-00000000000000001234567890abcdef-fedcba0987654321-01",
        "tracestate": "in=1234567890abcdef;fedcba0987654321,vendor=x",
    }
    suppressed = {"X-INSTANA-L": "0", "traceparent": "00-0000-0001-00"}
    with httpx.Client() as client:
        for context in (recorded, suppressed):
            request = client.build_request("GET", "http://127.0.0.1:1/a", headers={"X-Id": "1"})
            expected = request.headers.copy()
            for name, value in context.items():
                expected[name] = value
            assert ours._append(request.headers, context)
            assert request.headers.raw == expected.raw
            assert request.headers["x-instana-l"] == context["X-INSTANA-L"]
            request = client.build_request("GET", "http://127.0.0.1:1/a")  # encoding unset
            expected = httpx.Headers(request.headers.raw)
            for name, value in context.items():
                expected[name] = value
            assert ours._append(request.headers, context)
            assert request.headers.raw == expected.raw
        # a context header already there, or an encoding other than ASCII's superset: the
        # one-by-one way instead
        request = client.build_request("GET", "http://127.0.0.1:1/a", headers={"X-Instana-T": "1"})
        assert not ours._append(request.headers, recorded)
        request = client.build_request("GET", "http://127.0.0.1:1/a")
        request.headers.encoding = "utf-16"
        assert not ours._append(request.headers, recorded)
