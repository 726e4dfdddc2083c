"""aiohttp client exit spans (``aiohttp-client``) against the loopback service.

What every entry shares (patching, disabling, suppression, errors) is in
tests/test_instrumentation_contract.py; this file checks aiohttp's own data and headers, an
error status, a connection error, and concurrent requests.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from tests.conftest import configure_for, free_port
from tests.http_service import Downstream
from tests.instr_support import TRACE_HEADERS, exits, traced
from tests.lambda_fixtures import load_event, make_context

__all__ = ["traced"]  # a fixture, used by name as a test argument


async def fetch(url: str, **kwargs: Any) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, **kwargs) as response:
        await response.read()
        return response.status


def test_a_request_in_a_lambda_handler_is_an_aiohttp_client_exit_with_trace_headers(
    client: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    uninstrument()

    @instana.lambda_handler
    def handler(event: Any, context: Any) -> int:
        async def call() -> int:
            stale = {"X-Instana-T": "1111111111111111", "X-Request-Id": "abc-123"}
            async with aiohttp.ClientSession(headers={"traceparent": "00-stale"}) as session:
                url = f"{downstream.url}/orders/7?api_key=s3cr3t"
                async with session.post(url, params={"page": 2}, headers=stale) as response:
                    await response.read()
                    return response.status

        return asyncio.run(call())

    try:
        assert handler(load_event("api_gateway_rest"), make_context()) == 200
    finally:
        uninstrument()
    spans = acceptor.wait_for_spans(2)
    (entry,) = [s for s in spans if s["k"] == 1]
    (exit_span,) = exits(spans)
    assert exit_span["n"] == "aiohttp-client" and exit_span["ec"] == 0
    assert exit_span["t"] == entry["t"] and exit_span["p"] == entry["s"]
    assert exit_span["data"]["http"] == {
        "method": "POST",
        "url": f"{downstream.url}/orders/7",
        "params": "api_key=<redacted>&page=2",
        "status": 200,
    }
    assert "s3cr3t" not in json.dumps(acceptor.bundles)
    (request,) = downstream.requests
    assert request["path"] == "/orders/7?api_key=s3cr3t&page=2"
    sent = [(k.lower(), v) for k, v in request["raw_headers"] if k.lower() in TRACE_HEADERS]
    assert sorted(k for k, _ in sent) == sorted(TRACE_HEADERS)  # stale ones replaced, once each
    context = dict(sent)
    assert context["x-instana-t"] == entry["t"] and context["x-instana-s"] == exit_span["s"]
    assert context["traceparent"] == f"00-{'0' * 16}{entry['t']}-{exit_span['s']}-01"
    assert request["headers"]["x-request-id"] == "abc-123"


def test_an_error_status_marks_the_span_as_the_official_sensor_does(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    downstream.script["/boom"] = [(503, {})]
    downstream.script["/missing"] = [(404, {})]
    with instana.entry_span("job"):
        assert asyncio.run(fetch(f"{downstream.url}/boom")) == 503
        assert asyncio.run(fetch(f"{downstream.url}/missing")) == 404
    boom, missing = exits(acceptor.wait_for_spans(3))
    assert boom["ec"] == 1 and boom["data"]["http"]["status"] == 503
    assert boom["data"]["http"]["error"] == "503 Service Unavailable"
    assert missing["ec"] == 0 and missing["data"]["http"]["status"] == 404
    assert "error" not in missing["data"]["http"]


def test_a_connection_error_is_recorded_and_raised_unchanged(
    traced: Client, acceptor: Acceptor
) -> None:
    url = f"http://127.0.0.1:{free_port()}/down"
    with pytest.raises(aiohttp.ClientConnectorError) as raised, instana.entry_span("job"):
        asyncio.run(fetch(url))
    assert isinstance(raised.value.os_error, ConnectionRefusedError)
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["ec"] == 1 and "status" not in exit_span["data"]["http"]
    assert exit_span["data"]["http"]["error"].startswith("ClientConnectorError")
    assert exit_span["data"]["http"]["url"] == url


def test_redirects_are_one_span_carrying_the_same_context(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    downstream.script["/old"] = [(301, {"Location": "/new"})]
    with instana.entry_span("job"):
        assert asyncio.run(fetch(f"{downstream.url}/old")) == 200
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["data"]["http"]["url"] == f"{downstream.url}/old"
    assert exit_span["data"]["http"]["status"] == 200
    assert [r["headers"]["x-instana-s"] for r in downstream.requests] == [exit_span["s"]] * 2


def test_concurrent_requests_each_get_their_own_span(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    async def three() -> None:
        async with aiohttp.ClientSession() as session:

            async def get(path: str) -> None:
                async with session.get(f"{downstream.url}{path}") as response:
                    await response.read()

            await asyncio.gather(*(get(f"/p{i}") for i in range(3)))

    with instana.entry_span("job") as entry:
        asyncio.run(three())
    spans = exits(acceptor.wait_for_spans(4))
    urls = sorted(s["data"]["http"]["url"] for s in spans)
    assert urls == [f"{downstream.url}/p{i}" for i in range(3)]
    assert all(s["p"] == entry.span_id for s in spans)  # siblings, never nested
    sent = {r["path"]: r["headers"]["x-instana-s"] for r in downstream.requests}
    assert sent == {"/" + s["data"]["http"]["url"].rsplit("/", 1)[1]: s["s"] for s in spans}


def test_base_url_and_extra_http_headers(acceptor: Acceptor, downstream: Downstream) -> None:
    configure_for(acceptor, extra_http_headers=["X-Tenant", "X-Served-By"])
    uninstrument()
    instrument()
    try:
        downstream.script["/v1/items"] = [(200, {"X-Served-By": "node-3"})]

        async def call() -> None:
            async with aiohttp.ClientSession(base_url=downstream.url) as session:
                headers = [("X-Tenant", "acme"), ("X-Other", "no")]
                async with session.get("/v1/items", headers=headers) as response:
                    await response.read()

        with instana.entry_span("job"):
            asyncio.run(call())
        (exit_span,) = exits(acceptor.wait_for_spans(2))
        assert exit_span["data"]["http"]["url"] == f"{downstream.url}/v1/items"
        assert exit_span["data"]["http"]["header"] == {"x-tenant": "acme", "x-served-by": "node-3"}
    finally:
        uninstrument()
        instana.configure(environ={})
