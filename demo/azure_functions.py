"""Azure Functions: the sample app ``azure/function_app.py`` in a worker process of its own,
with the app settings an Azure function app has.

Where ``make`` could create the Python 3.13 environment (``.venv313``), Microsoft's library
worker ``azure-functions-runtime`` indexes and runs the app, driven by our host
(``demo.azure_host``) as the Functions host drives it. Without Python 3.13 the emulated worker
(``demo.azure_worker``) stands in. The demo says which one ran.
"""

from __future__ import annotations

import json
import sys
import threading

from demo import azure_host
from demo.azure_host import FunctionsHost, http, string
from demo.harness import ROOT, Harness, progress

WORKER_TIMEOUT_S = 30.0
SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "FUNCTIONS_EXTENSION_VERSION": "~4",
    "WEBSITE_SITE_NAME": "shop-orders",
    "WEBSITE_OWNER_NAME": "5c1e0d3a-7f2b-4c6d-9e8f-0a1b2c3d4e5f+shop-rg-WestEuropewebspace-Linux",
    "WEBSITE_RESOURCE_GROUP": "shop-rg",
    "REGION_NAME": "West Europe",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}
SCRIPT_ROOT = ROOT / "azure"
SITE = "https://shop-orders.azurewebsites.net"
# The client's trace, and the host's activity in it that invokes the function.
CLIENT_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
HOST_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-c3a1e8f04b2d9e67-01"
EMULATED = "emulated (demo/azure_worker.py: no Python 3.13 here for azure-functions-runtime)"


def run(harness: Harness) -> None:
    if azure_host.worker_python() is not None:
        run_library_worker(harness)
    else:
        run_emulated(harness)


def run_library_worker(harness: Harness) -> None:
    progress("Azure: starting a Python 3.13 language worker process for azure/function_app.py…")
    host = FunctionsHost(
        SCRIPT_ROOT, harness.env(SETTINGS), stderr=harness.log_file("azure-worker")
    )
    try:
        try:
            host.start()
        finally:
            if host.proc is not None:
                harness.adopt("azure-worker", host.proc)
        progress(f"Azure: worker: {host.describe()}")
        progress(f"Azure: worker indexed {', '.join(sorted(host.functions))}")

        progress("Azure: invoking create_order (HTTP POST /api/orders?item=tea)…")
        created = host.invoke(
            "create_order",
            {
                "req": http(
                    "POST",
                    f"{SITE}/api/orders?item=tea",
                    headers={"traceparent": CLIENT_TRACEPARENT, "content-length": "0"},
                    query={"item": "tea"},
                )
            },
            trace_parent=HOST_TRACEPARENT,
            invocation_id="9c1f6a52-0000-4000-8000-000000000001",
        )
        queued = created.outputs.get("outbox")
        status = (created.return_value or {}).get("status_code") if created.ok else None
        progress(f"Azure: create_order answered {status}, queued {queued}")
        if status != "201" or not isinstance(queued, str):
            raise RuntimeError(
                f"create_order failed: {created.response}\n{harness.log_tail('azure-worker')}"
            )

        # A storage-queue message carries no trace context, and process_order takes no context:
        # its invocation starts a trace of its own.
        progress("Azure: invoking process_order (storage queue message)…")
        processed = host.invoke(
            "process_order",
            {"msg": string(queued)},
            trigger_metadata={"Id": string("q-0001"), "PopReceipt": string("AgAAAAMAAAAAAAAA")},
        )
        if not processed.ok:
            raise RuntimeError(f"process_order failed: {processed.exception.get('message')}")
        progress(f"Azure: process_order handled order {json.loads(queued)['item']!r}")
    finally:
        proc = host.proc
        host.close()
        if proc is not None:
            harness.stop([proc])


def run_emulated(harness: Harness) -> None:
    progress(f"Azure: worker: {EMULATED}")
    progress("Azure: starting a Python worker process for azure/function_app.py…")
    argv = [sys.executable, "-m", "demo.azure_worker"]
    proc = harness.start("azure-worker", argv, harness.env(SETTINGS), pipe=True)
    # A hung worker must not hang the demo: its lines are read until it exits.
    watchdog = threading.Timer(WORKER_TIMEOUT_S, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
        if proc.wait() != 0:
            raise RuntimeError(f"the Azure worker exited with {proc.returncode}")
    finally:
        watchdog.cancel()
        harness.stop([proc])
