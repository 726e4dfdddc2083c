"""Google Cloud Run: the example service ``cloudrun/main.py`` (``@cloud_run``) under the real
functions-framework server, hit over HTTP with a W3C ``traceparent``, then once more with a
request that fails. The metadata server the instance id comes from is emulated on loopback, and
the requests go through ``cloud_run_emulator``, which freezes the server between requests as
Cloud Run's request-based billing throttles the CPU."""

from __future__ import annotations

import http.client
import json
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

from demo.cloud_run_emulator import CloudRunEmulator
from demo.harness import ROOT, Harness, free_port, progress, wait_for_port
from demo.loopback import JsonService

SERVICE = "hello"
REVISION = "hello-00001-dmo"
PROJECT = "shop-demo-4711"
NUMERIC_PROJECT = "731248915532"
REGION = "europe-west3"
INSTANCE_ID = "00bf4bf02db3546c7ba0e8ae4f4bd4e2b6f4cfa9c4fe1f0a7b6b0e8f6a8d1e2f3a4b5c6d7e8f9"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _metadata(path: str, headers: Mapping[str, str]) -> Tuple[int, Any, Mapping[str, str]]:
    """``metadata.google.internal``: one recursive document, only for Metadata-Flavor: Google."""
    flavor = {"Metadata-Flavor": "Google"}
    if headers.get("metadata-flavor") != "Google":
        return 403, "Missing Metadata-Flavor:Google header.", flavor
    if path != "/computeMetadata/v1/?recursive=true":
        return 404, "not found", flavor
    document = {
        "instance": {
            "id": INSTANCE_ID,
            "region": f"projects/{NUMERIC_PROJECT}/regions/{REGION}",
            "zone": f"projects/{NUMERIC_PROJECT}/zones/{REGION}-1",
        },
        "project": {"projectId": PROJECT, "numericProjectId": int(NUMERIC_PROJECT)},
    }
    return 200, document, flavor


def _get(port: int, path: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        answer_headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, answer_headers, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def run(harness: Harness) -> None:
    before = len(harness.acceptor.spans())
    with JsonService(_metadata) as metadata:
        port = free_port()
        env = harness.env(
            {
                "K_SERVICE": SERVICE,
                "K_REVISION": REVISION,
                "K_CONFIGURATION": SERVICE,
                "PORT": str(port),
                "INSTANA_GCP_METADATA_HOST": metadata.address,
            }
        )
        server = Path(sys.executable).with_name("functions-framework")
        argv = [str(server), "--source", str(ROOT / "cloudrun" / "main.py")]
        argv += ["--target", SERVICE, "--port", str(port)]
        progress(f"Cloud Run: starting functions-framework --target {SERVICE} on port {port}…")
        proc = harness.start("cloud-run", argv, env)
        try:
            wait_for_port(port, proc, "functions-framework", timeout=20)
            with CloudRunEmulator(port, proc.pid) as front:
                progress(f"Cloud Run: GET /?name=Ada with traceparent {TRACEPARENT}")
                status, headers, body = _get(front.port, "/?name=Ada", {"traceparent": TRACEPARENT})
                progress(
                    f"Cloud Run: {status} {json.loads(body)}, "
                    f"Server-Timing: {headers.get('server-timing')}"
                )
                progress("Cloud Run: GET /?name=crash (the function raises)")
                status, _, _ = _get(front.port, "/?name=crash", {})
                progress(f"Cloud Run: {status}")
                # Each request's spans were sent before its response completed: they are in
                # although the instance is frozen since.
                arrived = len(harness.acceptor.spans()) - before
                progress(f"Cloud Run: instance frozen {front.freezes}x, {arrived} spans arrived")
            harness.acceptor.wait_for_spans(before + 3, timeout=5)
        finally:
            harness.stop([proc])
