"""Azure Functions: the sample app ``azure/function_app.py`` in a worker process of its own
(``demo.azure_worker``), with the app settings an Azure function app has."""

from __future__ import annotations

import sys
import threading

from demo.harness import Harness, progress

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


def run(harness: Harness) -> None:
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
