"""End to end: the example service ``cloudrun/main.py`` under a real functions-framework server
(gunicorn, forked worker) in a subprocess, the GCP metadata server emulated on loopback, and
the local acceptor receiving the bundles."""

from __future__ import annotations

import base64
import http.client
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

from demo.harness import listening
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY, free_port
from tests.test_cloudrun_metadata import INSTANCE_ID, PROJECT_ID, REGION, MetadataEmulator

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "cloudrun" / "main.py"
REVISION = "hello-00007-qux"
TRACE = "0af7651916cd43dd"
PARENT = "b7ad6b7169203331"


def serve(
    target: str,
    acceptor: Acceptor,
    emulator: MetadataEmulator,
    metadata_env: Optional[Dict[str, str]] = None,
) -> Iterator[int]:
    port = free_port()
    if metadata_env is None:
        metadata_env = {"INSTANA_GCP_METADATA_HOST": emulator.host}
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("INSTANA_", "K_", "AWS_", "GCE_", "GOOGLE_"))
        },
        "INSTANA_ENDPOINT_URL": acceptor.url,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        **metadata_env,
        "K_SERVICE": "hello",
        "K_REVISION": REVISION,
        "K_CONFIGURATION": "hello",
        "PORT": str(port),
        "THREADS": "4",
        "PYTHONPATH": str(ROOT),
        "STRIPE_SECRET": "sk_live_123",
    }
    executable = Path(sys.executable).with_name("functions-framework")
    argv = [str(executable), "--source", str(SOURCE), "--target", target, "--port", str(port)]
    with listening(argv, port, env, "functions-framework", timeout=20.0):
        yield port


def request(
    port: int,
    method: str,
    path: str,
    headers: Optional[Dict[str, str]] = None,
    body: Optional[bytes] = None,
) -> tuple[int, Dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_http_function_end_to_end(acceptor: Acceptor, emulator: MetadataEmulator) -> None:
    started_ms = int(time.time() * 1000)
    for port in serve("hello", acceptor, emulator):
        status, headers, body = request(
            port, "GET", "/?name=Ada", {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT}
        )
        assert status == 200 and json.loads(body) == {"greeting": "Hello, Ada!"}
        assert headers["server-timing"] == f"intid;desc={TRACE}"
        spans = acceptor.wait_for_spans(2, timeout=10)  # flushed before the response returned

        status, headers, _ = request(port, "GET", "/?name=crash")
        assert status == 500
        status, headers, _ = request(port, "GET", "/?name=unavailable")
        assert status == 503
        status, headers, _ = request(port, "GET", "/plain")
        assert status == 200
        spans = acceptor.wait_for_spans(7, timeout=10)  # crash has no custom span

    entries = [s for s in spans if s["n"] == "wsgi"]
    assert len(entries) == 4
    continued, crashed, unavailable, fresh = entries
    assert continued["t"] == TRACE and continued["p"] == PARENT
    render = next(s for s in spans if s["n"] == "sdk" and s["t"] == TRACE)
    assert render["p"] == continued["s"]
    assert crashed["ec"] == 1 and crashed["data"]["http"]["error"] == "RuntimeError: asked to crash"
    assert unavailable["ec"] == 1 and unavailable["data"]["http"]["status"] == 503
    assert "p" not in fresh and fresh["data"]["http"]["url"] == "/plain"
    # The instance id, once the metadata answered (the first request waits up to 100 ms for
    # it; on a starved machine its spans may leave with the revision standing in instead).
    revision = f"gcp:cloud-run:revision:{REVISION}"
    assert fresh["f"] == {"hl": True, "cp": "gcp", "e": INSTANCE_ID}
    assert {s["f"]["e"] for s in spans} <= {INSTANCE_ID, revision}
    assert {s["f"]["e"] for s in spans if s["t"] != TRACE} == {INSTANCE_ID}
    hosts = {r["headers"].get("x-instana-host") for r in acceptor.requests}
    assert hosts == {f"gcp:cloud-run:revision:{REVISION}"}

    plugins: Dict[str, Any] = {}
    for bundle in acceptor.bundles:
        for plugin in bundle["metrics"]["plugins"]:
            plugins.setdefault(plugin["name"], plugin)
    gcp = plugins["com.instana.plugin.gcp.run.revision.instance"]
    assert gcp["entityId"] == INSTANCE_ID
    assert gcp["data"]["region"] == REGION and gcp["data"]["projectId"] == PROJECT_ID
    assert gcp["data"]["revision"] == REVISION
    process = plugins["com.instana.plugin.process"]
    # As the Instana sensors send it: args without the interpreter but with the script,
    # exec the resolved interpreter binary, start in epoch milliseconds.
    assert process["data"]["args"][0] == str(Path(sys.executable).with_name("functions-framework"))
    assert process["data"]["args"][1:5] == ["--source", str(SOURCE), "--target", "hello"]
    assert process["data"]["exec"] == os.path.realpath(sys.executable)
    assert started_ms - 60_000 < process["data"]["start"] <= started_ms + 30_000
    assert process["data"]["env"]["STRIPE_SECRET"] == "<redacted>"
    assert process["data"]["env"]["INSTANA_AGENT_KEY"] == "<redacted>"
    assert "com.instana.plugin.python" in plugins
    # The metadata was read by the worker process, once.
    assert emulator.paths.count("/computeMetadata/v1/?recursive=true") <= 2


def test_pubsub_cloud_event_end_to_end(acceptor: Acceptor, emulator: MetadataEmulator) -> None:
    event = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/projects/{PROJECT_ID}/topics/greetings",
        "id": "1",
        "data": {
            "message": {
                "data": base64.b64encode(b"hello").decode(),
                "attributes": {"x-instana-t": TRACE, "x-instana-s": PARENT},
                "messageId": "1",
            },
            "subscription": f"projects/{PROJECT_ID}/subscriptions/greetings-push",
        },
    }
    poison = json.loads(json.dumps(event))
    poison["data"]["message"]["data"] = base64.b64encode(b"poison").decode()
    poison["data"]["message"]["attributes"] = {}
    for port in serve("on_message", acceptor, emulator):
        headers = {"Content-Type": "application/cloudevents+json"}
        status, _, _ = request(port, "POST", "/", headers, json.dumps(event).encode())
        assert status == 200
        status, _, _ = request(port, "POST", "/", headers, json.dumps(poison).encode())
        assert status == 500
        spans = acceptor.wait_for_spans(2, timeout=10)
    ok, failed = spans
    assert ok["n"] == "gcps" and ok["t"] == TRACE and ok["p"] == PARENT
    assert ok["data"]["gcps"] == {
        "op": "consume",
        "projid": PROJECT_ID,
        "top": "greetings",
        "sub": "greetings-push",
    }
    assert failed["ec"] == 1 and failed["data"]["gcps"]["error"] == "ValueError: poison message"
    assert ok["f"]["e"] == INSTANCE_ID


def test_gce_metadata_host_is_honoured(acceptor: Acceptor, emulator: MetadataEmulator) -> None:
    """Google's own variable (``host:port``) finds the metadata server without ours."""
    for port in serve("hello", acceptor, emulator, {"GCE_METADATA_HOST": emulator.host}):
        status, _, _ = request(port, "GET", "/plain")
        assert status == 200
        status, _, _ = request(port, "GET", "/plain")
        assert status == 200
        spans = acceptor.wait_for_spans(2, timeout=10)
    assert emulator.paths, "the emulated metadata server was asked"
    # The first request may have left before the answer (with the revision standing in);
    # the identity is corrected from then on.
    assert spans[-1]["f"]["e"] == INSTANCE_ID
    gcp = [
        p
        for b in acceptor.bundles
        for p in b["metrics"]["plugins"]
        if p["name"] == "com.instana.plugin.gcp.run.revision.instance"
    ]
    assert gcp and gcp[0]["entityId"] == INSTANCE_ID


def test_unreachable_metadata_server_never_defers_a_request(
    acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    for port in serve("hello", acceptor, emulator, {"GCE_METADATA_HOST": closed}):
        status, _, _ = request(port, "GET", "/plain")
        assert status == 200
        # No waiting: the span was delivered before the response was sent.
        spans = acceptor.spans()
        entries = [s for s in spans if s["n"] == "wsgi"]
        assert len(entries) == 1 and entries[0]["data"]["http"]["url"] == "/plain"
    revision = {"hl": True, "cp": "gcp", "e": f"gcp:cloud-run:revision:{REVISION}"}
    assert all(s["f"] == revision for s in spans)
