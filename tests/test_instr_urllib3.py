"""Exit spans for requests/urllib3 against real HTTP servers on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from typing import Any, Dict, List

import pytest
import requests
import urllib3

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from tests.conftest import AGENT_KEY, configure_for, free_port, span_name
from tests.http_service import Downstream
from tests.instr_support import TRACE_HEADERS, traced

__all__ = ["traced"]  # a fixture, used by name as a test argument


def by_name(spans: List[Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
    return [s for s in spans if span_name(s) == name]


def test_importing_the_package_imports_no_instrumented_library() -> None:
    # A fresh interpreter: instrument() with tracing on must not import the libraries, and
    # the user's own later import must get them patched.
    code = """
import sys, json
import instana_serverless as instana
from instana_serverless.instrumentation import instrument
instana.configure(instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="k"), environ={})
instrument()
instrument()
heavy = ("boto3", "botocore", "requests", "urllib3", "s3transfer")
before = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
import requests, botocore.session, boto3.s3.transfer
from urllib3.connectionpool import HTTPConnectionPool
from botocore.client import BaseClient
from s3transfer.futures import BoundedExecutor
print(json.dumps({
    "before": before,
    "urllib3": getattr(HTTPConnectionPool.urlopen, "__instana_wrapped__", False),
    "botocore": getattr(BaseClient._make_api_call, "__instana_wrapped__", False),
    "s3transfer": getattr(BoundedExecutor.submit, "__instana_wrapped__", False),
    "double": getattr(HTTPConnectionPool.urlopen.__wrapped__, "__instana_wrapped__", False),
}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "before": [],
        "urllib3": True,
        "botocore": True,
        "s3transfer": True,
        "double": False,
    }


def test_plain_import_of_instana_serverless_loads_no_heavy_module() -> None:
    code = (
        "import sys, instana_serverless, instana_serverless.instrumentation;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3','botocore','requests','urllib3','s3transfer')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_imported_before_instrument_is_patched_at_once(client: Client) -> None:
    uninstrument()
    assert not getattr(urllib3.connectionpool.HTTPConnectionPool.urlopen, "__instana_wrapped__", 0)
    instrument()
    try:
        assert urllib3.connectionpool.HTTPConnectionPool.urlopen.__instana_wrapped__
    finally:
        uninstrument()
    assert not getattr(urllib3.connectionpool.HTTPConnectionPool.urlopen, "__instana_wrapped__", 0)


def test_requests_call_gets_an_exit_span_and_trace_headers(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    user_headers = {"X-Request-Id": "abc-123", "Authorization": "Bearer user-token"}
    with instana.entry_span("job") as entry:
        response = requests.get(
            f"{downstream.url}/orders/7?api_key=s3cr3t&page=2&page=3", headers=user_headers
        )
    assert response.status_code == 200 and response.json() == {"ok": True}

    spans = acceptor.wait_for_spans(2)
    (exit_span,) = by_name(spans, "urllib3")
    assert exit_span["k"] == 2 and exit_span["ec"] == 0
    assert exit_span["t"] == entry.trace_id and exit_span["p"] == entry.span_id
    assert exit_span["data"]["http"] == {
        "method": "GET",
        "url": f"{downstream.url}/orders/7",
        "host": downstream.url.removeprefix("http://"),
        "path": "/orders/7",
        "params": "api_key=<redacted>&page=2&page=3",
        "status": 200,
    }
    assert "s3cr3t" not in json.dumps(acceptor.bundles)

    sent = downstream.requests[0]["headers"]
    assert sent["x-instana-t"] == entry.trace_id
    assert sent["x-instana-s"] == exit_span["s"]
    assert sent["x-instana-l"] == "1"
    assert sent["traceparent"] == f"00-{'0' * 16}{entry.trace_id}-{exit_span['s']}-01"
    assert sent["tracestate"].startswith(f"in={entry.trace_id};{exit_span['s']}")
    # The user's own headers arrive unchanged next to ours, and their dict was not touched.
    assert sent["x-request-id"] == "abc-123" and sent["authorization"] == "Bearer user-token"
    assert user_headers == {"X-Request-Id": "abc-123", "Authorization": "Bearer user-token"}


def test_stale_context_headers_set_by_the_caller_are_replaced(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    stale = {
        "X-Instana-T": "1111111111111111",
        "X-INSTANA-S": "2222222222222222",
        "TraceParent": "x",
    }
    with instana.entry_span("job") as entry:
        requests.get(downstream.url, headers=stale)
    raw = downstream.requests[0]["raw_headers"]
    ours = [(k.lower(), v) for k, v in raw if k.lower() in TRACE_HEADERS]
    assert sorted(name for name, _ in ours) == sorted(TRACE_HEADERS)  # each exactly once
    assert dict(ours)["x-instana-t"] == entry.trace_id


@pytest.mark.parametrize(("status", "errors"), [(503, 1), (404, 0), (302, 0)])
def test_status_codes(
    traced: Client, acceptor: Acceptor, downstream: Downstream, status: int, errors: int
) -> None:
    downstream.script["/x"] = [(status, {"Location": "/elsewhere"} if status == 302 else {})]
    with instana.entry_span("job"):
        response = requests.get(f"{downstream.url}/x", allow_redirects=False)
    assert response.status_code == status
    (exit_span,) = by_name(acceptor.wait_for_spans(2), "urllib3")
    assert exit_span["data"]["http"]["status"] == status
    assert exit_span["ec"] == errors
    assert ("error" in exit_span["data"]["http"]) == bool(errors)


def test_connection_error_is_recorded_and_reraised_unchanged(
    traced: Client, acceptor: Acceptor
) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(requests.exceptions.ConnectionError), instana.entry_span("job"):
        requests.get(f"http://127.0.0.1:{port}/down", timeout=2)
    spans = acceptor.wait_for_spans(2)
    (exit_span,) = by_name(spans, "urllib3")
    assert exit_span["ec"] == 1
    assert "Error" in exit_span["data"]["http"]["error"]
    assert "status" not in exit_span["data"]["http"]
    (entry,) = by_name(spans, "job")
    assert entry["ec"] == 1  # the exception escaped the entry too


def test_urllib3_retries_stay_one_span(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    downstream.script["/flaky"] = [(503, {}), (503, {}), (200, {})]
    retry = urllib3.util.Retry(
        total=3, status_forcelist=[503], allowed_methods=None, backoff_factor=0
    )
    with urllib3.PoolManager(retries=retry) as pool, instana.entry_span("job"):
        response = pool.request("POST", f"{downstream.url}/flaky", body=b"{}")
    assert response.status == 200 and len(downstream.requests) == 3
    spans = acceptor.wait_for_spans(2)
    (exit_span,) = by_name(spans, "urllib3")
    assert exit_span["data"]["http"]["status"] == 200 and exit_span["ec"] == 0
    assert exit_span["data"]["http"]["method"] == "POST"
    # every attempt carried the same context: the one span it belongs to
    assert {r["headers"]["x-instana-s"] for r in downstream.requests} == {exit_span["s"]}


def test_redirect_followed_by_requests_gives_a_span_per_request(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    downstream.script["/old"] = [(301, {"Location": "/new"})]
    with instana.entry_span("job"):
        assert requests.get(f"{downstream.url}/old").status_code == 200
    spans = by_name(acceptor.wait_for_spans(3), "urllib3")
    assert sorted(s["data"]["http"]["path"] for s in spans) == ["/new", "/old"]
    assert [r["headers"]["x-instana-s"] for r in downstream.requests] == [
        s["s"] for s in sorted(spans, key=lambda s: s["data"]["http"]["path"], reverse=True)
    ]


def test_extra_http_headers_are_captured(acceptor: Acceptor, downstream: Downstream) -> None:
    configure_for(acceptor, extra_http_headers=["X-Tenant", "X-Served-By"])
    instrument()
    try:
        downstream.script["/"] = [(200, {"X-Served-By": "node-3"})]
        with instana.entry_span("job"):
            requests.get(downstream.url + "/", headers={"X-Tenant": "acme", "X-Other": "no"})
        (exit_span,) = by_name(acceptor.wait_for_spans(2), "urllib3")
        assert exit_span["data"]["http"]["header"] == {"x-tenant": "acme", "x-served-by": "node-3"}
    finally:
        uninstrument()
        instana.configure(environ={})


def test_no_active_trace_means_no_span_and_no_headers(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    assert requests.get(downstream.url).status_code == 200
    assert not set(TRACE_HEADERS) & set(downstream.requests[0]["headers"])
    traced.flush()
    assert acceptor.spans() == []


def test_work_in_another_thread_without_context_is_not_traced(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    with instana.entry_span("job"):
        worker = threading.Thread(target=requests.get, args=(downstream.url,))
        worker.start()
        worker.join()
    spans = acceptor.wait_for_spans(1)
    assert [span_name(s) for s in spans] == ["job"]


def test_suppressed_trace_passes_level_zero_and_records_nothing(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    with instana.entry_span("job", headers={"X-INSTANA-L": "0"}):
        requests.get(downstream.url)
    sent = downstream.requests[0]["headers"]
    assert sent["x-instana-l"] == "0"
    assert "x-instana-t" not in sent and "x-instana-s" not in sent
    assert sent["traceparent"].endswith("-00")  # unsampled for W3C-only tracers
    assert traced.flush()
    assert acceptor.spans() == [] and len(traced.buffer) == 0


@pytest.mark.parametrize("name", ["requests", "urllib3", "http"])
def test_disabled_instrumentation_leaves_calls_alone(
    acceptor: Acceptor, downstream: Downstream, name: str
) -> None:
    pool = urllib3.connectionpool.HTTPConnectionPool
    configure_for(acceptor)
    uninstrument()
    instrument()  # patched under an earlier configuration ...
    try:
        assert pool.urlopen.__instana_wrapped__
        client = configure_for(acceptor, disabled_instrumentations=[name])
        # ... then disabled: the call-time check holds
        with instana.entry_span("job"):
            requests.get(downstream.url)
        assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["job"]
        assert "x-instana-t" not in downstream.requests[0]["headers"]
        assert client.config.disabled_instrumentations == frozenset([name])
        uninstrument()
        instrument()  # and disabled from the start: not even patched
        assert not getattr(pool.urlopen, "__instana_wrapped__", 0)
    finally:
        uninstrument()
        instana.configure(environ={})


def test_reporter_traffic_is_never_traced(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    # The reporter talks http.client directly and runs with no active span; a flush in the
    # middle of traced work must add neither a span nor trace headers to its own POST.
    with instana.entry_span("job", flush=False):
        requests.get(downstream.url)
        assert instana.flush()
        requests.get(downstream.url)
        assert traced.flush()
    assert traced.flush()
    spans = acceptor.spans()
    assert sorted(span_name(s) for s in spans) == ["job", "urllib3", "urllib3"]
    assert all(
        s["data"]["http"]["url"].startswith(downstream.url) for s in by_name(spans, "urllib3")
    )
    assert acceptor.requests and all(
        not set(TRACE_HEADERS) & set(r["headers"]) for r in acceptor.requests
    )


def test_a_tracer_failure_never_reaches_the_call(
    traced: Client,
    acceptor: Acceptor,
    downstream: Downstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    from instana_serverless.instrumentation import _http, _wrap

    monkeypatch.setattr(_wrap, "start_child", broken)
    with instana.entry_span("job"):
        assert requests.get(downstream.url).status_code == 200
    monkeypatch.undo()

    monkeypatch.setattr(_http, "record_status", broken)  # urllib3's end records the status
    with instana.entry_span("job"):
        assert requests.get(downstream.url).json() == {"ok": True}
    assert len(downstream.requests) == 2


def test_instrument_is_idempotent(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    instrument()
    instrument()
    wrapped = urllib3.connectionpool.HTTPConnectionPool.urlopen
    assert not getattr(wrapped.__wrapped__, "__instana_wrapped__", False)
    with instana.entry_span("job"):
        requests.get(downstream.url)
    assert len(by_name(acceptor.wait_for_spans(2), "urllib3")) == 1


def test_instrument_without_tracing_changes_nothing(acceptor: Acceptor) -> None:
    uninstrument()
    instana.configure(instana.Options(agent_key=AGENT_KEY), environ={})  # no endpoint
    try:
        instrument()
        assert not getattr(
            urllib3.connectionpool.HTTPConnectionPool.urlopen, "__instana_wrapped__", 0
        )
    finally:
        instana.configure(environ={})


def test_credentials_in_an_absolute_url_are_masked(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    hostport = downstream.url.removeprefix("http://")
    host, _, port = hostport.partition(":")
    pool = urllib3.HTTPConnectionPool(host, int(port))
    with instana.entry_span("job"):
        # an absolute URL, as urllib3 receives it through a plain-http proxy
        pool.urlopen("GET", f"http://user:pw-5e1@{hostport}/x", retries=False)
    (exit_span,) = by_name(acceptor.wait_for_spans(2), "urllib3")
    assert exit_span["data"]["http"]["url"] == f"http://<redacted>@{hostport}/x"
