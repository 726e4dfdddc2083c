"""``urllib.request`` / ``http.client`` exit spans against the loopback service.

What every entry shares (patching, disabling, suppression, errors) is in
tests/test_instrumentation_contract.py; this file checks the span's data and headers, where it
ends (the response, an error, a response never read), kept-alive connections, that the HTTP
libraries sending through ``http.client`` never get a second span, and that our own reporter
is never traced.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, patched, uninstrument
from tests.conftest import AGENT_KEY, configure_for, free_port, span_name
from tests.http_service import Downstream
from tests.instr_support import TRACE_HEADERS, exits, traced
from tests.lambda_fixtures import load_event, make_context
from tests.test_transport_tls import ConnectProxy
from tests.tls_ca import BundleBackend, make_self_signed

__all__ = ["traced"]  # a fixture, used by name as a test argument


def sent_context(request: Dict[str, Any]) -> Dict[str, str]:
    return {k.lower(): v for k, v in request["raw_headers"] if k.lower() in TRACE_HEADERS}


def test_urlopen_in_a_lambda_handler_is_an_http_exit_with_trace_headers(
    client: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    uninstrument()

    @instana.lambda_handler
    def handler(event: Any, context: Any) -> int:
        stale = {"X-Request-Id": "abc-123", "X-Instana-T": "1111111111111111"}
        url = f"{downstream.url}/orders/7?api_key=s3cr3t&page=2"
        with urllib.request.urlopen(urllib.request.Request(url, headers=stale)) as response:
            return int(response.status)

    try:
        assert handler(load_event("api_gateway_rest"), make_context()) == 200
    finally:
        uninstrument()
    spans = acceptor.wait_for_spans(2)
    (entry,) = [s for s in spans if s["k"] == 1]
    (exit_span,) = exits(spans)
    assert span_name(exit_span) == "http" and exit_span["ec"] == 0
    assert exit_span["t"] == entry["t"] and exit_span["p"] == entry["s"]
    assert exit_span["data"]["http"] == {
        "method": "GET",
        "url": f"{downstream.url}/orders/7",
        "host": downstream.address,
        "path": "/orders/7",
        "params": "api_key=<redacted>&page=2",
        "status": 200,
    }
    assert "s3cr3t" not in json.dumps(acceptor.bundles)
    (request,) = downstream.requests
    names = [k.lower() for k, _ in request["raw_headers"] if k.lower() in TRACE_HEADERS]
    assert sorted(names) == sorted(TRACE_HEADERS)  # each once: the stale one replaced
    context = sent_context(request)
    assert context["x-instana-t"] == entry["t"] and context["x-instana-s"] == exit_span["s"]
    assert context["traceparent"] == f"00-{'0' * 16}{entry['t']}-{exit_span['s']}-01"
    assert request["headers"]["x-request-id"] == "abc-123"


def test_a_kept_alive_connection_gives_one_span_per_request(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    downstream.script["/b"] = [(503, {})]
    caller_headers = {"Accept": "application/json"}
    conn = http.client.HTTPConnection(downstream.address, timeout=5)
    with instana.entry_span("job") as entry:
        statuses = []
        for path in ("/a", "/b", "/c"):
            conn.request("POST", path, body=b"{}", headers=caller_headers)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
    conn.close()
    assert statuses == [200, 503, 200]
    assert caller_headers == {"Accept": "application/json"}  # the caller's dict untouched
    spans = exits(acceptor.wait_for_spans(4))
    assert [(s["data"]["http"]["path"], s["data"]["http"]["status"], s["ec"]) for s in spans] == [
        ("/a", 200, 0),
        ("/b", 503, 1),
        ("/c", 200, 0),
    ]
    assert spans[1]["data"]["http"]["error"] == "HTTP 503"
    assert all(s["p"] == entry.span_id and s["data"]["http"]["method"] == "POST" for s in spans)
    assert [sent_context(r)["x-instana-s"] for r in downstream.requests] == [s["s"] for s in spans]


def test_the_span_ends_with_the_response_not_with_the_request(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    conn = http.client.HTTPConnection(downstream.address, timeout=5)
    with instana.entry_span("job"):
        conn.request("GET", "/slow")
        # between request and getresponse the caller's own span is the active one again
        active = instana.current_span()
        assert active is not None and active.data["sdk"]["name"] == "job"
        assert acceptor.spans() == [] and len(traced.buffer) == 0  # still open
        response = conn.getresponse()
        response.read()
    conn.close()
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["data"]["http"]["status"] == 200


def test_a_response_never_read_ends_its_span_when_the_connection_closes(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    with instana.entry_span("job"):
        conn = http.client.HTTPConnection(downstream.address, timeout=5)
        conn.request("GET", "/abandoned")
        conn.close()  # never asked for the response
        conn.request("GET", "/again")  # reconnects
        conn.close()
    spans = exits(acceptor.wait_for_spans(3))
    assert [s["data"]["http"]["path"] for s in spans] == ["/abandoned", "/again"]
    assert all("status" not in s["data"]["http"] and s["ec"] == 0 for s in spans)


def test_a_second_request_refused_by_http_client_keeps_the_first_ones_span(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    conn = http.client.HTTPConnection(downstream.address, timeout=5)
    with instana.entry_span("job"):
        conn.request("GET", "/first")
        with pytest.raises(http.client.CannotSendRequest):
            conn.request("GET", "/second")  # the first response is still outstanding
        response = conn.getresponse()
        response.read()
    conn.close()
    assert response.status == 200
    second, first = exits(acceptor.wait_for_spans(3))  # in the order they ended
    assert first["data"]["http"]["path"] == "/first" and first["data"]["http"]["status"] == 200
    assert second["data"]["http"]["path"] == "/second" and second["ec"] == 1
    assert second["data"]["http"]["error"].startswith("CannotSendRequest")


def test_connection_refused_is_recorded_and_urllib_raises_as_without_us(
    traced: Client, acceptor: Acceptor
) -> None:
    url = f"http://127.0.0.1:{free_port()}/down"
    with pytest.raises(urllib.error.URLError) as untraced:
        urllib.request.urlopen(url, timeout=5)
    with pytest.raises(urllib.error.URLError) as raised, instana.entry_span("job"):
        urllib.request.urlopen(url, timeout=5)
    assert type(raised.value.reason) is type(untraced.value.reason) is ConnectionRefusedError
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["ec"] == 1
    assert exit_span["data"]["http"]["error"].startswith("ConnectionRefusedError")
    assert "status" not in exit_span["data"]["http"]


def test_http_error_status_raised_by_urlopen_still_gives_the_status(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    downstream.script["/missing"] = [(404, {})]
    with pytest.raises(urllib.error.HTTPError), instana.entry_span("job"):
        urllib.request.urlopen(f"{downstream.url}/missing", timeout=5)
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["data"]["http"]["status"] == 404 and exit_span["ec"] == 0


def test_extra_http_headers_are_captured(acceptor: Acceptor, downstream: Downstream) -> None:
    configure_for(acceptor, extra_http_headers=["X-Tenant", "X-Served-By"])
    uninstrument()
    instrument()
    try:
        downstream.script["/"] = [(200, {"X-Served-By": "node-3"})]
        request = urllib.request.Request(
            f"{downstream.url}/", headers={"X-Tenant": "acme", "X-Other": "no"}
        )
        with instana.entry_span("job"):
            urllib.request.urlopen(request, timeout=5).read()
        (exit_span,) = exits(acceptor.wait_for_spans(2))
        assert exit_span["data"]["http"]["header"] == {"x-tenant": "acme", "x-served-by": "node-3"}
    finally:
        uninstrument()
        instana.configure(environ={})


def test_requests_through_http_client_is_one_urllib3_span_never_a_second_http_one(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    with instana.entry_span("job"):
        requests.get(f"{downstream.url}/via-requests", timeout=5).raise_for_status()
    assert [span_name(s) for s in exits(acceptor.wait_for_spans(2))] == ["urllib3"]


def test_requests_disabled_is_not_turned_into_a_generic_http_span(
    acceptor: Acceptor, downstream: Downstream
) -> None:
    configure_for(acceptor, disabled_instrumentations=["requests"])
    uninstrument()
    instrument()
    try:
        assert "http_client" in patched()
        with instana.entry_span("job"):
            requests.get(f"{downstream.url}/via-requests", timeout=5).raise_for_status()
            urllib.request.urlopen(f"{downstream.url}/via-urllib", timeout=5).read()
        spans = exits(acceptor.wait_for_spans(2))
        assert [(span_name(s), s["data"]["http"]["path"]) for s in spans] == [
            ("http", "/via-urllib")
        ]
        assert not sent_context(downstream.requests[0])  # requests' headers left alone
    finally:
        uninstrument()
        instana.configure(environ={})


def test_our_reporter_is_never_traced(
    traced: Client, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: List[Any] = []
    original = http.client.HTTPConnection.send

    def send(self: http.client.HTTPConnection, data: Any) -> None:
        sent.append(data)
        original(self, data)

    monkeypatch.setattr(http.client.HTTPConnection, "send", send)
    for _ in range(3):
        with instana.entry_span("job"):
            pass  # each entry span is flushed (POSTed) while http.client is patched
    assert len(acceptor.wait_for_spans(3)) == 3
    assert sent == []  # the reporter's POSTs never touched http.client
    assert not exits(acceptor.spans())


def test_http_client_is_never_imported_by_us_even_when_reporting(acceptor: Acceptor) -> None:
    code = (
        "import sys, json\n"
        "import instana_serverless as instana\n"
        f"options = instana.Options(endpoint_url={acceptor.url!r}, agent_key={AGENT_KEY!r})\n"
        "instana.configure(options, environ={})\n"
        "instana.instrument()\n"
        "with instana.entry_span('job'):\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('http', 'logging', 'aiohttp', 'email'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["job"]


def test_connections_of_urllib3_pass_through_as_its_1_26_sends_them(
    traced: Client, acceptor: Acceptor, downstream: Downstream
) -> None:
    """urllib3 1.26 (and botocore on it) sends through ``http.client``'s ``request`` (2.x has
    its own): with their rows disabled, that must not become a generic ``http`` span."""
    import urllib3.connection

    host, port = downstream.address.split(":")
    conn = urllib3.connection.HTTPConnection(host, int(port), timeout=5)
    with instana.entry_span("job"):
        http.client.HTTPConnection.request(conn, "GET", "/legacy", None, {})
        response = http.client.HTTPConnection.getresponse(conn)
        response.read()
    conn.close()
    assert response.status == 200
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["job"]
    assert not sent_context(downstream.requests[0])


def test_https_through_a_connect_tunnel_names_the_real_host(
    traced: Client,
    acceptor: Acceptor,
    tmp_path: Path,
) -> None:
    certificate = make_self_signed(tmp_path)
    backend, proxy = BundleBackend(*certificate), ConnectProxy()
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False
    try:
        conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=5, context=context)
        conn.set_tunnel("127.0.0.1", backend.port)
        with instana.entry_span("job"):
            conn.request("POST", "/secure?page=1", body=b"{}")
            response = conn.getresponse()
            response.read()
        conn.close()
    finally:
        backend.close()
        proxy.close()
    assert response.status == 204 and proxy.tunnels == [f"127.0.0.1:{backend.port}"]
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert exit_span["data"]["http"] == {
        "method": "POST",
        "url": f"https://127.0.0.1:{backend.port}/secure",
        "host": f"127.0.0.1:{backend.port}",
        "path": "/secure",
        "params": "page=1",
        "status": 204,
    }
    assert "x-instana-t" in {name.lower() for name in backend.header_names}
