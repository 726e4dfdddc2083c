"""``@cloud_run`` inside a real functions-framework app (``create_app`` + Flask's test client,
in process), with the metadata server emulated on loopback and the real acceptor."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import textwrap
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator

import functions_framework
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.gcp import cloud_run, runtime
from instana_serverless.gcp.runtime import CloudRunInstance
from tests.conftest import AGENT_KEY, configure_for
from tests.test_cloudrun_metadata import (
    INSTANCE_ID,
    NUMERIC_PROJECT_ID,
    PROJECT_ID,
    REGION,
    MetadataEmulator,
)

TRACE = "1234567890abcdef"
PARENT = "fedcba0987654321"
REVISION = "shop-00042-xyz"
CLOUD_RUN_ENV = {
    "K_SERVICE": "shop",
    "K_REVISION": REVISION,
    "K_CONFIGURATION": "shop",
    "PORT": "8080",
    "INSTANA_AGENT_KEY": AGENT_KEY,
    "DB_PASSWORD": "s3cret",
    "GREETING": "hi",
}
# What the ``ff`` fixture gives: the test client of an app serving the named function.
Serve = Callable[[str], Any]

FUNCTIONS = """
import functions_framework
import flask
from instana_serverless.gcp import cloud_run
from instana_serverless import span

@functions_framework.http
@cloud_run
def outer(request):
    with span("work"):
        pass
    if request.args.get("fail"):
        raise RuntimeError("kaput")
    if request.args.get("missing"):
        flask.abort(404)
    return {"path": request.path}, int(request.args.get("status", "200"))

@cloud_run
@functions_framework.http
def inner(request):
    return "plain text"

@cloud_run
@functions_framework.cloud_event
def on_event(cloud_event):
    if cloud_event.data and cloud_event.data.get("fail"):
        raise ValueError("bad event")
"""


@contextlib.contextmanager
def running_on(instance: CloudRunInstance) -> Iterator[CloudRunInstance]:
    """``instance`` as the process's Cloud Run instance while in the block."""
    runtime._reset_for_tests(instance)
    try:
        yield instance
    finally:
        runtime._reset_for_tests(None)


def not_on_cloud_run() -> ContextManager[CloudRunInstance]:
    """No Cloud Run identity: every invocation is flushed as is."""
    return running_on(CloudRunInstance({}))


@pytest.fixture
def instance(emulator: MetadataEmulator) -> Iterator[CloudRunInstance]:
    env = {**CLOUD_RUN_ENV, "INSTANA_GCP_METADATA_HOST": emulator.host}
    with running_on(CloudRunInstance(env, identity_wait_s=2.0)) as created:
        yield created


@pytest.fixture
def ff(
    client: Client, instance: CloudRunInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Serve:
    """Serves the functions of ``FUNCTIONS`` with the real functions-framework app, in process,
    reporting to the acceptor from the emulated Cloud Run instance."""
    source = tmp_path / "functions_under_test.py"
    source.write_text(textwrap.dedent(FUNCTIONS))

    def serve(target: str) -> Any:
        monkeypatch.setenv("FUNCTION_TARGET", target)
        app = functions_framework.create_app(target, str(source))  # type: ignore[no-untyped-call]
        return app.test_client()

    return serve


def test_http_function_entry_span_and_identity(acceptor: Acceptor, ff: Serve) -> None:
    http = ff("outer")
    response = http.get(
        "/orders?api_key=abc&page=1",
        headers={"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT},
    )
    assert response.status_code == 200 and response.json == {"path": "/orders"}
    assert response.headers["Server-Timing"] == f"intid;desc={TRACE}"
    spans = acceptor.wait_for_spans(2)
    entry = next(s for s in spans if s["n"] == "wsgi")
    sdk = next(s for s in spans if s["n"] == "sdk")
    assert entry["t"] == TRACE and entry["p"] == PARENT and entry["k"] == 1
    assert sdk["p"] == entry["s"], "custom span is a child of the entry"
    assert entry["data"]["http"]["params"] == "api_key=<redacted>&page=1"
    assert entry["data"]["http"]["status"] == 200 and entry["ec"] == 0
    assert entry["f"] == {"hl": True, "cp": "gcp", "e": INSTANCE_ID}
    bundle_request = acceptor.requests[-1]
    assert bundle_request["headers"]["x-instana-host"] == f"gcp:cloud-run:revision:{REVISION}"

    plugins = {p["name"]: p for b in acceptor.bundles for p in b["metrics"]["plugins"]}
    gcp = plugins["com.instana.plugin.gcp.run.revision.instance"]
    assert gcp["entityId"] == INSTANCE_ID
    assert gcp["data"] == {
        "runtime": "python",
        "instanceId": INSTANCE_ID,
        "region": REGION,
        "service": "shop",
        "configuration": "shop",
        "revision": REVISION,
        "port": "8080",
        "projectId": PROJECT_ID,
        "numericProjectId": NUMERIC_PROJECT_ID,  # a JSON number, as the backend expects
    }
    process = plugins["com.instana.plugin.process"]
    assert process["data"]["env"]["DB_PASSWORD"] == "<redacted>"
    assert process["data"]["env"]["INSTANA_AGENT_KEY"] == "<redacted>"
    assert process["data"]["env"]["GREETING"] == "hi"
    assert process["data"]["container"] == INSTANCE_ID
    assert "com.instana.plugin.python" in plugins
    assert AGENT_KEY not in json.dumps(acceptor.bundles)


def test_metrics_are_piggybacked_at_most_every_few_seconds(acceptor: Acceptor, ff: Serve) -> None:
    http = ff("inner")
    for _ in range(3):
        assert http.get("/").status_code == 200
    acceptor.wait_for_spans(3)
    with_plugins = [b for b in acceptor.bundles if b["metrics"]["plugins"]]
    assert len(acceptor.bundles) == 3, "one flush per request"
    assert len(with_plugins) == 1, "metrics only with the first flush of the interval"


def test_stacking_order_keeps_name_and_registration(acceptor: Acceptor, ff: Serve) -> None:
    http = ff("inner")
    response = http.get("/")
    assert response.get_data(as_text=True) == "plain text"
    assert "intid;desc=" in response.headers["Server-Timing"]
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "wsgi" and span["data"]["http"]["status"] == 200

    def hello(request: Any) -> str:
        """Docs."""
        return "x"

    wrapped = cloud_run(hello)
    assert wrapped.__name__ == "hello" and wrapped.__doc__ == "Docs."
    assert wrapped.__wrapped__ is hello  # type: ignore[attr-defined]


def test_errors_and_statuses(acceptor: Acceptor, ff: Serve) -> None:
    http = ff("outer")
    assert http.get("/?fail=1").status_code == 500
    assert http.get("/?status=503").status_code == 503
    assert http.get("/?missing=1").status_code == 404
    entries = [s for s in acceptor.wait_for_spans(6) if s["n"] == "wsgi"]
    failed, unavailable, missing = entries
    assert failed["ec"] == 1 and failed["data"]["http"]["error"] == "RuntimeError: kaput"
    assert failed["data"]["http"]["status"] == 500
    assert unavailable["ec"] == 1 and unavailable["data"]["http"]["status"] == 503
    assert missing["ec"] == 0 and missing["data"]["http"]["status"] == 404


def test_cloud_trace_context_continues_the_google_trace(acceptor: Acceptor, ff: Serve) -> None:
    http = ff("inner")
    http.get("/", headers={"X-Cloud-Trace-Context": "4bf92f3577b34da6a3ce929d0e0e4736/17;o=1"})
    [span] = acceptor.wait_for_spans(1)
    assert span["t"] == "a3ce929d0e0e4736" and span["p"] == f"{17:016x}"
    assert span["lt"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def pubsub_event(attributes: Dict[str, str], data: Dict[str, Any] | None = None) -> Dict[str, Any]:
    return {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/projects/{PROJECT_ID}/topics/orders",
        "id": "8123456789",
        "time": "2024-03-20T17:24:10.381Z",
        "datacontenttype": "application/json",
        "data": {
            "message": {
                "data": base64.b64encode(json.dumps(data or {}).encode()).decode(),
                "attributes": attributes,
                "messageId": "8123456789",
                "publishTime": "2024-03-20T17:24:10.381Z",
            },
            "subscription": f"projects/{PROJECT_ID}/subscriptions/orders-push",
        },
    }


def test_pubsub_cloud_event(acceptor: Acceptor, ff: Serve) -> None:
    http = ff("on_event")
    event = pubsub_event({"x-instana-t": TRACE, "x-instana-s": PARENT})
    response = http.post("/", json=event, headers={"Content-Type": "application/cloudevents+json"})
    assert response.status_code == 200
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "gcps" and span["t"] == TRACE and span["p"] == PARENT
    assert span["data"]["gcps"] == {
        "op": "consume",
        "projid": PROJECT_ID,
        "top": "orders",
        "sub": "orders-push",
    }


def test_storage_cloud_event_binary_mode_with_traceparent(acceptor: Acceptor, ff: Serve) -> None:
    http = ff("on_event")
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": "//storage.googleapis.com/projects/_/buckets/invoices",
        "ce-subject": "objects/2024/03/inv-1.pdf",
        "ce-id": "42",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "Content-Type": "application/json",
    }
    body = {"bucket": "invoices", "name": "2024/03/inv-1.pdf", "fail": True}
    response = http.post("/", json=body, headers=headers)
    assert response.status_code == 500
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "gcs"
    assert span["data"]["gcs"]["op"] == "finalized"
    assert span["data"]["gcs"]["bucket"] == "invoices"
    assert span["data"]["gcs"]["object"] == "2024/03/inv-1.pdf"
    assert span["data"]["gcs"]["error"] == "ValueError: bad event"
    assert span["ec"] == 1 and span["p"] == "00f067aa0ba902b7"


def test_other_cloud_events_become_sdk_entries(client: Client, acceptor: Acceptor) -> None:
    from cloudevents.http import CloudEvent

    with not_on_cloud_run():

        @cloud_run
        def handler(event: Any) -> str:
            return "done"

        event = CloudEvent(
            {"type": "google.cloud.firestore.document.v1.written", "source": "//firestore/x"},
            {"value": 1},
        )
        assert handler(event) == "done"
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "sdk"
    assert span["data"]["sdk"]["name"] == "google.cloud.firestore.document.v1.written"
    assert span["data"]["sdk"]["custom"]["tags"]["source"] == "//firestore/x"


def test_legacy_background_event(client: Client, acceptor: Acceptor) -> None:
    from google.cloud.functions.context import Context  # type: ignore[import-untyped]

    with not_on_cloud_run():

        @cloud_run
        def handler(data: Any, context: Any) -> None:
            return None

        context = Context(
            eventId="1",
            timestamp="t",
            eventType="google.pubsub.topic.publish",
            resource={"service": "pubsub.googleapis.com", "name": "projects/p1/topics/t1"},
        )
        handler({"attributes": {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT}, "data": ""}, context)
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "gcps" and span["t"] == TRACE
    assert span["data"]["gcps"]["projid"] == "p1" and span["data"]["gcps"]["top"] == "t1"


def test_unknown_arguments_run_untraced_and_malformed_events_are_safe(
    client: Client, acceptor: Acceptor
) -> None:
    with not_on_cloud_run():

        @cloud_run
        def anything(*args: Any, **kwargs: Any) -> Any:
            return (args, kwargs)

        assert anything(1, 2, x=3) == ((1, 2), {"x": 3})

        class WeirdEvent:
            def get_attributes(self) -> Any:
                return None

            data = object()

        @cloud_run
        def on_weird(event: Any) -> str:
            return "ok"

        assert on_weird(WeirdEvent()) == "ok"
    spans = acceptor.wait_for_spans(1)
    assert [s["n"] for s in spans] == ["sdk"]


def test_disabled_client_is_a_passthrough(acceptor: Acceptor) -> None:
    instana.configure(environ={})
    calls = []

    @cloud_run
    def fn(request: Any) -> str:
        calls.append(request)
        return "ok"

    request = Request(EnvironBuilder(path="/").get_environ())
    assert fn(request) == "ok" and calls == [request]
    assert acceptor.requests == []


def test_async_function_stays_async(client: Client, acceptor: Acceptor) -> None:
    with not_on_cloud_run():

        @cloud_run
        async def handler(request: Any) -> Any:
            await asyncio.sleep(0)
            return "async ok"

        import inspect

        assert inspect.iscoroutinefunction(handler)
        request = Request(
            EnvironBuilder(
                path="/a", headers=[("X-INSTANA-T", TRACE), ("X-INSTANA-S", PARENT)]
            ).get_environ()
        )
        assert asyncio.run(handler(request)) == "async ok"
    [span] = acceptor.wait_for_spans(1)
    assert span["n"] == "wsgi" and span["t"] == TRACE and span["data"]["http"]["url"] == "/a"


def test_metadata_outage_never_defers_and_falls_back(
    client: Client, acceptor: Acceptor, emulator: MetadataEmulator, all_logs: list[Any]
) -> None:
    emulator.mode = "down"
    client = configure_for(acceptor, debug=True)
    instance = CloudRunInstance(
        {**CLOUD_RUN_ENV, "INSTANA_GCP_METADATA_HOST": emulator.host}, identity_wait_s=0.0
    )
    instance.fetcher.retry_delay_s = 0.05
    revision_host = f"gcp:cloud-run:revision:{REVISION}"
    with running_on(instance):

        @cloud_run
        def fn(request: Any) -> str:
            return "ok"

        request = Request(EnvironBuilder(path="/").get_environ())
        fn(request)  # identity still unknown: the span leaves now, the revision standing in
        assert len(acceptor.requests) == 1 and len(client.buffer) == 0
        assert acceptor.spans()[0]["f"]["e"] == revision_host
        assert acceptor.requests[0]["headers"]["x-instana-host"] == revision_host
        assert instance.fetcher.wait(3.0) is None and instance.fetcher.state == "failed"
        fn(request)
    spans = acceptor.wait_for_spans(2)
    assert {s["f"]["e"] for s in spans} == {revision_host}
    assert any("metadata server could not be read" in r.getMessage() for r in all_logs)


def test_slow_metadata_sends_as_revision_then_corrects_the_entity(
    client: Client, acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    emulator.delay_s = 0.6  # longer than the wait the flush deadline allows
    instance = CloudRunInstance({**CLOUD_RUN_ENV, "INSTANA_GCP_METADATA_HOST": emulator.host})
    with running_on(instance):

        @cloud_run
        def fn(request: Any) -> str:
            return "ok"

        request = Request(EnvironBuilder(path="/").get_environ())
        fn(request)
        assert len(acceptor.spans()) == 1, "sent in its own request, not with the next one"
        first_bundle = acceptor.bundles[0]
        assert instance.fetcher.wait(5.0) is not None
        fn(request)
    first, second = acceptor.wait_for_spans(2)
    assert first["f"]["e"] == f"gcp:cloud-run:revision:{REVISION}"
    assert second["f"]["e"] == INSTANCE_ID
    names = {p["name"] for p in first_bundle["metrics"]["plugins"]}
    assert "com.instana.plugin.gcp.run.revision.instance" not in names
    later = [p for b in acceptor.bundles[1:] for p in b["metrics"]["plugins"]]
    gcp = next(p for p in later if p["name"] == "com.instana.plugin.gcp.run.revision.instance")
    assert gcp["entityId"] == INSTANCE_ID


def test_wsgi_middleware_on_cloud_run_uses_the_instance_identity(
    client: Client,
    acceptor: Acceptor,
    instance: CloudRunInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flask

    from instana_serverless.middleware import WSGIMiddleware

    for name in list(__import__("os").environ):
        if name.startswith(("AWS_", "FUNCTIONS_")):
            monkeypatch.delenv(name)
    for name in ("K_SERVICE", "K_REVISION", "K_CONFIGURATION"):
        monkeypatch.setenv(name, CLOUD_RUN_ENV[name])
    app = flask.Flask("svc")
    app.add_url_rule("/", "index", lambda: "ok")
    app.wsgi_app = WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    response = app.test_client().get("/", buffered=True)
    assert response.status_code == 200
    [span] = acceptor.wait_for_spans(1)  # flushed per request, like the decorator
    assert span["n"] == "wsgi" and span["f"] == {"hl": True, "cp": "gcp", "e": INSTANCE_ID}
    names = {p["name"] for b in acceptor.bundles for p in b["metrics"]["plugins"]}
    assert "com.instana.plugin.gcp.run.revision.instance" in names


def test_a_revision_flush_racing_the_announcement_does_not_stick(
    client: Client, acceptor: Acceptor, instance: CloudRunInstance
) -> None:
    instance.after_request(client)  # waits for the metadata, announces the instance
    assert instance.fetcher.wait(5.0) is not None
    assert client.reporter.source["e"] == INSTANCE_ID
    instance._flush_as_revision(client)  # a request that began before the id was known
    assert client.reporter.source["e"] == f"gcp:cloud-run:revision:{REVISION}"
    instance.after_request(client)
    assert client.reporter.source["e"] == INSTANCE_ID
