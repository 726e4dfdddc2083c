"""Latency our send adds to a Cloud Run request, per billing mode, with the backend far away.

    .venv/bin/python bench/cloudrun.py

Real servers (Flask on gunicorn, FastAPI on uvicorn, functions-framework) run the apps of
``tests/cloudrun_apps`` behind ``demo/cloud_run_emulator.py``, the acceptor answering every
bundle after 20 ms or 100 ms (a backend that far away). For each mode the median latency a
client sees through the emulator is compared with the same app untraced (no agent key) behind
the same emulator:

- default (request-based billing): the emulator freezes the instance between requests; each
  response waits for its send, aim at most one backend round trip + 1 ms;
- ``INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED=true``: the instance is not throttled; the send
  runs after the response, aim nothing measurable.

"round trip" is the median of one bundle POST to the delayed acceptor over a kept-alive
connection, measured here. Prints medians only; nothing passes or fails.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import KEY, table
from demo.cloud_run import _metadata
from demo.cloud_run_emulator import CloudRunEmulator, instance
from demo.harness import free_port
from demo.loopback import JsonService
from tests.cloudrun_apps import KINDS, ROOT, server_argv

DELAYS_MS = (20, 100)
WARMUP = 5
ROUNDS = 31


def _path(kind: str, number: int) -> str:
    return f"/?name=b{number}" if kind == "functions-framework" else f"/r/{number}"


def _get_ms(front: CloudRunEmulator, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=30)
    try:
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status == 200, response.status
        return elapsed
    finally:
        conn.close()


def serve(
    stack: contextlib.ExitStack,
    kind: str,
    metadata: str,
    acceptor: Optional[str],
    *,
    throttle: bool,
    always_allocated: bool = False,
) -> CloudRunEmulator:
    """``kind`` behind its own emulator until ``stack`` closes (``acceptor`` None: untraced)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "K_", "SEND_"))}
    env.update(
        {
            "K_SERVICE": "hello",
            "K_REVISION": "hello-00001-ben",
            "K_CONFIGURATION": "hello",
            "PORT": str(port),
            "PYTHONPATH": str(ROOT),
            "INSTANA_GCP_METADATA_HOST": metadata,
            "INSTANA_LOG_LEVEL": "error",
        }
    )
    if acceptor is not None:
        env.update({"INSTANA_ENDPOINT_URL": acceptor, "INSTANA_AGENT_KEY": KEY})
    if always_allocated:
        env["INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED"] = "true"
    argv = server_argv(kind, port)
    return stack.enter_context(instance(argv, env, port, throttle=throttle, cwd=str(ROOT)))


def medians_ms(kind: str, fronts: Dict[str, CloudRunEmulator]) -> Dict[str, float]:
    """Median milliseconds per request of each instance, asked in turn, so that the load of
    the machine weighs on all of them alike."""
    samples: Dict[str, List[float]] = {name: [] for name in fronts}
    for number in range(WARMUP + ROUNDS):
        for name, front in fronts.items():
            elapsed = _get_ms(front, _path(kind, number))
            if number >= WARMUP:
                samples[name].append(elapsed)
    return {name: statistics.median(values) for name, values in samples.items()}


_ACCEPTOR = """
import os, sys
from instana_serverless.acceptor.server import Acceptor
acceptor = Acceptor(key=sys.argv[1], delay_s=float(sys.argv[2]), output=os.devnull).start()
print(acceptor.url, flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def delayed_acceptor(delay_ms: int) -> Iterator[str]:
    """The acceptor, answering each bundle after ``delay_ms``, in a process of its own (its
    parsing and validation must not take turns with the emulator for our GIL)."""
    command = [sys.executable, "-c", _ACCEPTOR, KEY, str(delay_ms / 1000.0)]
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT)
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def round_trip_ms(url: str) -> float:
    body = b'{"spans":[],"metrics":{"plugins":[]}}'
    conn = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    samples: List[float] = []
    try:
        for _ in range(11):
            start = time.perf_counter()
            conn.request("POST", "/bundle", body=body, headers={"X-Instana-Key": KEY})
            conn.getresponse().read()
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return statistics.median(samples)


def main() -> None:
    rows: List[Tuple[str, str]] = []
    with contextlib.ExitStack() as accepting, JsonService(_metadata) as metadata:
        acceptors = {delay: accepting.enter_context(delayed_acceptor(delay)) for delay in DELAYS_MS}
        trips = {delay: round_trip_ms(url) for delay, url in acceptors.items()}
        for kind in KINDS:
            with contextlib.ExitStack() as stack:
                host = metadata.address
                fronts = {
                    "base": serve(stack, kind, host, None, throttle=True),
                    "base, not throttled": serve(stack, kind, host, None, throttle=False),
                }
                for delay, url in acceptors.items():
                    fronts[f"default {delay}"] = serve(stack, kind, host, url, throttle=True)
                    fronts[f"allocated {delay}"] = serve(
                        stack, kind, host, url, throttle=False, always_allocated=True
                    )
                medians = medians_ms(kind, fronts)
            base = medians["base"]
            rows.append((f"{kind}, untraced", f"{base:.2f} ms per request"))
            for delay in DELAYS_MS:
                added = medians[f"default {delay}"] - base
                rows.append(
                    (
                        f"{kind}, backend {delay} ms away, default",
                        f"{added:+.2f} ms (round trip {trips[delay]:.2f} ms: "
                        f"{added - trips[delay]:+.2f} ms beyond it)",
                    )
                )
                allocated = medians[f"allocated {delay}"] - medians["base, not throttled"]
                rows.append(
                    (
                        f"{kind}, backend {delay} ms away, CPU always allocated",
                        f"{allocated:+.2f} ms",
                    )
                )
    print(
        f"Latency added per request (medians of {ROUNDS}, vs. the same app untraced behind the "
        "same emulator):"
    )
    print(table(rows))


if __name__ == "__main__":
    main()
