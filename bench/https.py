"""The cold path to a real (https) endpoint: first invocation after a 0 ms and a 50 ms function
init, and the warm invocation, against a loopback https backend whose certificate a test CA
made at run time signed; certificate verification stays on (the CA is trusted the way a
system's roots are, through ``SSL_CERT_DIR`` / ``SSL_CERT_FILE``). Plain http to the same
backend for comparison.

    .venv/bin/python bench/https.py

Each figure is the median over fresh processes (``BENCH_RUNS``, default 15) of a
``@lambda_handler`` function: wrapped (which starts the background prewarm), then a CPU-bound
init of 0 or 50 ms (as imports are), then the first invocation (its flush included), then 200
warm invocations. Trust layouts: "hashed dir" is Debian's (``/etc/ssl/certs`` with subject-hash
links, plus the test CA's hashed dir); "bundle file" is Amazon Linux's (one PEM file: the
system bundle with the test CA appended). The backend sets ``TCP_NODELAY`` as production front
ends do; the last row shows what a backend without it costs (its session tickets hold the first
response back for the client's delayed ACK). Prints figures only; nothing passes or fails.
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

from bench._support import KEY, ROOT, table
from tests.tls_ca import BundleBackend, make_test_ca

CHILD = """
import sys, time
init_ms = float(sys.argv[1])
from awslambdaric.lambda_context import LambdaContext
context = LambdaContext("req-1", None, None, int(time.time() * 1000) + 600000,
                        "arn:aws:lambda:eu-central-1:123456789012:function:bench")
t0 = time.perf_counter()
from instana_serverless.aws_lambda import lambda_handler

@lambda_handler
def handler(event, context):
    return {"statusCode": 200}

wrap = (time.perf_counter() - t0) * 1000
end = time.perf_counter() + init_ms / 1000
while time.perf_counter() < end:  # the function's own init: CPU-bound, like imports
    sum(range(100))
event = {"resource": "/x", "path": "/x", "httpMethod": "GET", "headers": {}}
t = time.perf_counter()
handler(event, context)
first = (time.perf_counter() - t) * 1000
from instana_serverless.client import get_client
if len(get_client().buffer):
    raise SystemExit("the first invocation's span was not delivered")
warm = []
for _ in range(200):
    t = time.perf_counter()
    handler(event, context)
    warm.append((time.perf_counter() - t) * 1e6)
if len(get_client().buffer):
    raise SystemExit("warm spans were not delivered")
warm.sort()
print(wrap, first, warm[len(warm) // 2])
"""


def system_bundle() -> bytes:
    import ssl

    paths = ssl.get_default_verify_paths()
    return Path(paths.cafile or paths.openssl_cafile).read_bytes()


def system_capath() -> str:
    import ssl

    return ssl.get_default_verify_paths().openssl_capath


def run(env: Dict[str, str], init_ms: float, runs: int) -> Tuple[float, float, float]:
    wraps: List[float] = []
    firsts: List[float] = []
    warms: List[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(init_ms)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        if out.returncode:
            raise RuntimeError(out.stderr.strip().splitlines()[-1])
        wrap, first, warm = (float(v) for v in out.stdout.split())
        wraps.append(wrap)
        firsts.append(first)
        warms.append(warm)
    return statistics.median(wraps), statistics.median(firsts), statistics.median(warms)


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "SSL_CERT"))}
    base.update(
        {
            "INSTANA_AGENT_KEY": KEY,
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    rows: List[Tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        ca = make_test_ca(Path(tmp) / "ca")
        bundle = Path(tmp) / "bundle.pem"
        bundle.write_bytes(system_bundle() + b"\n" + ca.ca_cert.read_bytes())
        empty_dir = Path(tmp) / "empty"
        empty_dir.mkdir()
        hashed_dirs = os.pathsep.join((system_capath(), str(ca.hashed_dir)))
        backends = [BundleBackend(), BundleBackend(ca.cert, ca.key)]
        backends.append(BundleBackend(ca.cert, ca.key, nodelay=False))
        plain, tls, nagle = (b.port for b in backends)
        layouts = {
            "http": {"INSTANA_ENDPOINT_URL": f"http://127.0.0.1:{plain}"},
            "https, hashed dir": {
                "INSTANA_ENDPOINT_URL": f"https://localhost:{tls}",
                "SSL_CERT_DIR": hashed_dirs,
            },
            "https, bundle file": {
                "INSTANA_ENDPOINT_URL": f"https://localhost:{tls}",
                "SSL_CERT_FILE": str(bundle),
                "SSL_CERT_DIR": str(empty_dir),
            },
            "https, hashed dir, backend without TCP_NODELAY": {
                "INSTANA_ENDPOINT_URL": f"https://localhost:{nagle}",
                "SSL_CERT_DIR": hashed_dirs,
            },
        }
        try:
            for label, extra in layouts.items():
                env = {**base, **extra}
                wrap_0, first_0, warm_0 = run(env, 0, runs)
                _, first_50, warm_50 = run(env, 50, runs)
                warm = statistics.median((warm_0, warm_50))
                rows.append(
                    (
                        label,
                        f"first {first_0:6.2f} ms (0 ms init)  {first_50:6.2f} ms (50 ms init)"
                        f"  warm {warm:6.1f} us  (import+wrap {wrap_0:5.2f} ms)",
                    )
                )
        finally:
            for backend in backends:
                backend.close()
    print(f"first and warm invocation of a @lambda_handler function (medians of {runs} processes)")
    print(table(rows))


if __name__ == "__main__":
    main()
