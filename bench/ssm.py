"""The agent key from SSM Parameter Store on a Lambda cold start: init time with
``INSTANA_AGENT_KEY`` against ``INSTANA_SSM_PARAM_NAME`` (a SecureString in moto's SSM), in one
run, and when the key is ready compared with the first flush.

    .venv/bin/python bench/ssm.py

Each sample is a fresh interpreter importing the layer handler (the init phase) and running
the first invocation, flush included, as bench/lambda_.py does; the two variants alternate
so load changes hit both. moto and the acceptor run in processes of their own. Prints medians
only; nothing passes or fails.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import ROOT, acceptor_process, table
from demo.harness import free_port, wait_for_port

KEY = "bench-ssm-key"
PARAMETER = "/bench/instana-agent-key"
USER_INIT_MS = (0, 30, 100)  # a function with no init of its own, and two with some

FUNCTION = """
import os
import time

# The function's own init (imports, clients): CPU-bound, as imports are.
_until = time.perf_counter() + int(os.environ.get("USER_INIT_MS", "0")) / 1000
while time.perf_counter() < _until:
    pass


def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}
"""

# init: the layer import (what Lambda's init phase runs); then the first invocation with its
# flush; when the key was ready; whether the bundles carried it; boto3 imported or not; when
# the first flush began.
CHILD = """
import sys
import time
import awslambdaric.bootstrap  # loaded by the runtime before it imports the handler
start = time.perf_counter()
cpu_start = time.thread_time()
import instana_serverless.lambda_layer as layer
init_ms = (time.perf_counter() - start) * 1000
init_cpu_ms = (time.thread_time() - cpu_start) * 1000
from awslambdaric.lambda_context import LambdaContext
from instana_serverless.client import get_client
client = get_client()
pending = client.pending_key
ctx = LambdaContext("req-1", None, None, int(time.time() * 1000) + 30000,
                    "arn:aws:lambda:eu-central-1:123456789012:function:bench")
begun = time.perf_counter()
layer.handler({"resource": "/x", "path": "/x", "httpMethod": "GET", "headers": {}}, ctx)
first_ms = (time.perf_counter() - begun) * 1000
ready_ms = -1.0
if pending is not None:
    pending.wait(5)
    ready_ms = STAMP[0] if STAMP else -1.0
flush_ms = FLUSHES[0] if FLUSHES else -1.0
print(init_ms, first_ms, ready_ms, int(client.agent_key == KEY), int("boto3" in sys.modules),
      flush_ms, init_cpu_ms, FETCH_CPU[0] if FETCH_CPU else 0.0)
"""

# Stamps when the key arrives and when the first flush begins (ms since the interpreter began
# importing the layer); the key's stamp is taken on the fetching thread.
STAMPER = """
import time
start = time.perf_counter()  # replaced by CHILD's own
STAMP = []
_t0 = time.perf_counter()
import instana_serverless.client as _client_module
import instana_serverless.pending_key as _pending_module
_resolve = _pending_module.PendingKey.resolve
def _stamped(self, key):
    STAMP.append((time.perf_counter() - start) * 1000)
    _resolve(self, key)
_pending_module.PendingKey.resolve = _stamped
FLUSHES = []
_flush = _client_module.Client.flush
def _flush_stamped(self):
    FLUSHES.append((time.perf_counter() - start) * 1000)
    return _flush(self)
_client_module.Client.flush = _flush_stamped
FETCH_CPU = []
import instana_serverless.aws_lambda.ssm as _ssm_module
_fetch_run = _ssm_module._run
def _timed_run(*args):
    cpu = time.thread_time()
    try:
        _fetch_run(*args)
    finally:
        FETCH_CPU.append((time.thread_time() - cpu) * 1000)
_ssm_module._run = _timed_run
"""


def start_moto() -> Tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc, "moto", timeout=30.0)
    url = f"http://127.0.0.1:{port}"
    import boto3

    boto3.client(
        "ssm",
        endpoint_url=url,
        region_name="eu-central-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).put_parameter(Name=PARAMETER, Value=KEY, Type="SecureString")
    return proc, url


def sample(code: str, env: Dict[str, str]) -> List[float]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True
    )
    return [float(x) for x in out.stdout.split()]


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    moto, moto_url = start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp, acceptor_process(KEY) as acceptor_url:
            (Path(tmp) / "bench_fn.py").write_text(FUNCTION)
            base = {
                # bytecode cached, as the layer ships it (PYTHONDONTWRITEBYTECODE would make
                # every run compile our modules)
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("INSTANA_", "AWS_")) and k != "PYTHONDONTWRITEBYTECODE"
                },
                "INSTANA_ENDPOINT_URL": acceptor_url,
                "LAMBDA_HANDLER": "bench_fn.handler",
                "AWS_LAMBDA_FUNCTION_NAME": "bench",
                "AWS_LAMBDA_FUNCTION_VERSION": "1",
                "AWS_REGION": "eu-central-1",
                "PYTHONPATH": os.pathsep.join((tmp, str(ROOT))),
            }
            with_key = {**base, "INSTANA_AGENT_KEY": KEY}
            with_ssm = {
                **base,
                "INSTANA_SSM_PARAM_NAME": PARAMETER,
                "INSTANA_SSM_DECRYPTION": "true",
                "AWS_ENDPOINT_URL_SSM": moto_url,
                "AWS_ACCESS_KEY_ID": "ASIABENCH",
                "AWS_SECRET_ACCESS_KEY": "bench-secret",
                "AWS_SESSION_TOKEN": "bench-token",
            }
            code = STAMPER + CHILD.replace("== KEY", f"== {KEY!r}")
            sample(code, with_key)  # writes the bytecode both variants then read
            results = {}
            for user_init in USER_INIT_MS:
                plain: List[List[float]] = []
                ssm: List[List[float]] = []
                extra = {"USER_INIT_MS": str(user_init)}
                for _ in range(runs):
                    plain.append(sample(code, {**with_key, **extra}))
                    ssm.append(sample(code, {**with_ssm, **extra}))
                results[user_init] = (plain, ssm)
            round_trip = get_parameter_ms(moto_url, runs)
    finally:
        moto.terminate()
        moto.wait(5)

    print("instana-serverless: the agent key from SSM on a Lambda cold start (medians)")
    print(f"GetParameter round trip to moto (warm connection aside): {round_trip:.2f} ms")
    for user_init, (plain, ssm) in results.items():
        print(f"function with {user_init} ms of its own init")
        print(report(plain, ssm))


def get_parameter_ms(url: str, runs: int) -> float:
    """What one signed GetParameter takes against moto from here (the fetch's floor)."""
    import time

    from instana_serverless.aws_lambda import ssm

    environ = {
        "AWS_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL_SSM": url,
        "AWS_ACCESS_KEY_ID": "ASIABENCH",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
    }
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        assert ssm.fetch(PARAMETER, True, environ) == KEY
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def report(plain: List[List[float]], ssm: List[List[float]]) -> str:
    def median(rows: List[List[float]], column: int) -> float:
        return statistics.median(row[column] for row in rows)

    init_key, init_ssm = median(plain, 0), median(ssm, 0)
    return table(
        [
            ("init (layer import), INSTANA_AGENT_KEY", f"{init_key:.2f} ms"),
            ("init (layer import), INSTANA_SSM_PARAM_NAME", f"{init_ssm:.2f} ms"),
            ("  added to init (wall clock)", f"{init_ssm - init_key:+.2f} ms"),
            (
                "  main thread's own CPU time in init: key / SSM",
                f"{median(plain, 6):.2f} / {median(ssm, 6):.2f} ms "
                f"({median(ssm, 6) - median(plain, 6):+.2f} ms)",
            ),
            (
                "  the fetch thread's own CPU time (all it can take from the main thread)",
                f"{median(ssm, 7):.2f} ms",
            ),
            (
                "key ready, ms after init began (fetch on its own thread)",
                f"{median(ssm, 2):.2f} ms",
            ),
            ("first flush began, ms after init began", f"{median(ssm, 5):.2f} ms"),
            (
                "  key ready before the first flush began",
                f"{sum(1 for row in ssm if 0 <= row[2] <= row[5])} of {len(ssm)} runs",
            ),
            ("first invocation incl. flush, INSTANA_AGENT_KEY", f"{median(plain, 1):.2f} ms"),
            ("first invocation incl. flush, INSTANA_SSM_PARAM_NAME", f"{median(ssm, 1):.2f} ms"),
            (
                "runs whose bundles carried the SSM key",
                f"{sum(int(r[3]) for r in ssm)} of {len(ssm)}",
            ),
            ("runs that imported boto3", f"{sum(int(r[4]) for r in ssm)} of {len(ssm)}"),
        ]
    )


if __name__ == "__main__":
    main()
