"""Outbound-call figures per instrumented library: requests, httpx (sync and async), SQS, and
the database drivers and SQLAlchemy (bench/_databases.py, real PostgreSQL and MariaDB).

    .venv/bin/python bench/outbound.py

Prints medians only; nothing passes or fails. Two views per call:

- end to end: the same call inside an entry span, instrumented against uninstrumented
  (alternating blocks, so drift hits both equally); the loopback round trip dominates and
  its jitter is of the order of the difference, so read it as a sanity check;
- tracing work only: what the shared wrapper does around the library call (guard, start
  the exit span, inject the context, record the result, end it): timed around those steps
  inside real calls, and in a tight loop without the network.

Each library is one ``Row``; adding one is a row (see docs/INSTRUMENTATION.md).

The HTTP service and moto run in separate processes so they do not share our GIL.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _databases
from bench._support import median_us, table
from demo.harness import free_port, wait_for_port

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE=os.devnull,
    AWS_SHARED_CREDENTIALS_FILE=os.devnull,
)

HTTP_SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = 65536
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
server.daemon_threads = True
print("ready", flush=True)
server.serve_forever()
"""


@contextmanager
def process(args: List[str], port: int) -> Iterator[str]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, args[-1], timeout=20.0)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(5)


def alternate(
    call: Callable[[], object], on: Callable[[], None], off: Callable[[], None], rounds: int
) -> Tuple[float, float]:
    """Median µs per call with and without instrumentation, measured in alternating blocks."""
    with_us: List[float] = []
    without_us: List[float] = []
    for _ in range(rounds):
        on()
        with_us.append(median_us(call, 1, inner=20))
        off()
        without_us.append(median_us(call, 1, inner=20))
    return statistics.median(with_us), statistics.median(without_us)


def in_situ_us(call: Callable[[], object], count: int) -> float:
    """Median µs of the shared wrapper's own steps (guard, start, inject, activate; then end,
    finish), timed inside real calls (caches as cold as they really are, unlike a tight loop)."""
    from instana_serverless.instrumentation import _wrap

    begin, finish = _wrap.begin, _wrap.finish
    samples: List[float] = []

    def timed_begin(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return begin(*args)
        finally:
            samples.append(time.perf_counter() - start)

    def timed_finish(*args: Any) -> None:
        start = time.perf_counter()
        try:
            finish(*args)
        finally:
            samples[-1] += time.perf_counter() - start

    _wrap.begin, _wrap.finish = timed_begin, timed_finish  # type: ignore[assignment]
    try:
        for _ in range(count):
            call()
    finally:
        _wrap.begin, _wrap.finish = begin, finish  # type: ignore[assignment]
    return statistics.median(samples) * 1e6 if samples else float("nan")


def tight_loop_us(
    entry_name: str,
    module: str,
    index: int,
    args: Callable[[], Tuple[Any, ...]],
    result: Any,
    rounds: int,
) -> float:
    """Median µs of the wrapper's steps around a call that is not made (no network at all);
    ``args()`` gives each call's arguments (a fresh request object where the library's is
    one-shot)."""
    from importlib import import_module

    from instana_serverless.instrumentation import _wrap
    from instana_serverless.instrumentation.registry import BY_NAME

    entry = BY_NAME[entry_name]
    patch_module = import_module(f"instana_serverless.instrumentation.{entry_name}")
    patch = patch_module.PATCHES[module][index]
    # Custom/Install patches (psycopg2, SQLAlchemy) run their module's start/end
    start = getattr(patch, "start", None) or patch_module.start
    inject = getattr(patch, "inject", None)
    end = patch.end if hasattr(patch, "end") else getattr(patch_module, "end", None)

    def work() -> None:
        call = _wrap.begin(entry, start, inject, args(), {})
        assert call is not None
        _wrap.finish(entry, end, call, result, None)

    return statistics.median(median_us(work, 1, inner=200) for _ in range(rounds))


_IMPORT_PROBE = """
import time
import instana_serverless as instana
instana.configure(instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="k"), environ={})
if INSTRUMENT:
    instana.instrument()
start = time.perf_counter()
for name in IMPORTS:
    __import__(name)
print((time.perf_counter() - start) * 1000)
"""


def import_cost_ms(imports: Tuple[str, ...], runs: int) -> Tuple[float, float]:
    """Median ms to import ``imports`` in fresh interpreters (bytecode cached, as deployed),
    with and without ``instrument()`` before, alternating so load changes hit both."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    codes = [
        _IMPORT_PROBE.replace("INSTRUMENT", repr(flag)).replace("IMPORTS", repr(imports))
        for flag in (True, False)
    ]
    samples: Tuple[List[float], List[float]] = ([], [])
    for index in range(runs + 1):
        for code, values in zip(codes, samples):
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
            )
            if index:  # the first run wrote the bytecode the others read
                values.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples[0]), statistics.median(samples[1])


class Row:
    """One library call in the table: ``call`` makes it inside an entry span; ``work`` is
    (entry, watched module, patch index, args, result) for the tight loop; ``imports`` what a
    user imports (timed in fresh interpreters, with and without us)."""

    def __init__(
        self,
        label: str,
        call: Callable[[], object],
        work: Tuple[str, str, int, Callable[[], Tuple[Any, ...]], Any],
        rounds: int,
        imports: Tuple[str, ...] = (),
    ) -> None:
        self.imports = imports
        self.label = label
        self.call = call
        self.work = work
        self.rounds = rounds


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "60"))
    import asyncio

    import boto3
    import httpx
    import requests
    import urllib3

    import instana_serverless as instana
    from instana_serverless.instrumentation import instrument, uninstrument

    # Spans are drained, never flushed: the reporter's cost is bench/core.py's subject.
    client = instana.configure(
        instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="bench"), environ={}
    )

    def instrumented() -> None:
        instrument(client)

    def in_entry(fn: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            with instana.entry_span("bench", flush=False):
                fn()
            client.buffer.drain()

        return call

    http_port, moto_port = free_port(), free_port()
    http = process([sys.executable, "-c", HTTP_SERVER, str(http_port)], http_port)
    moto = process(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], moto_port
    )
    with http as http_url, moto as moto_url, contextlib.ExitStack() as databases:
        session = requests.Session()
        httpx_client = httpx.Client()
        async_client = httpx.AsyncClient()
        loop = asyncio.new_event_loop()
        sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
        queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
        attributes = {"tenant": {"DataType": "String", "StringValue": "acme"}}

        pool = urllib3.HTTPConnectionPool("127.0.0.1", http_port)
        urllib3_response = urllib3.HTTPResponse(
            body=b"", status=200, headers={"Content-Length": "0"}
        )
        headers = {"Accept": "*/*", "User-Agent": "bench"}
        # httpx requests are one-shot (the headers go into them): a fresh one per call
        requests_ = iter(
            [
                httpx_client.build_request("GET", f"{http_url}/orders?page=2")
                for _ in range(rounds * 200 * 2 + 10)
            ]
        )
        response = httpx.Response(200)
        params = {"QueueUrl": queue, "MessageBody": "x", "MessageAttributes": attributes}
        sqs_result: Any = {"MessageId": "m", "ResponseMetadata": {"HTTPStatusCode": 200}}

        # Add a library: one Row (its call against the same kind of server, and the arguments
        # its patched callable receives) -- see docs/INSTRUMENTATION.md.
        rows = [
            Row(
                "requests.get",
                in_entry(lambda: session.get(http_url).raise_for_status()),
                (
                    "urllib3",
                    "urllib3.connectionpool",
                    0,
                    lambda: (pool, "GET", "/orders?page=2", None, headers),
                    urllib3_response,
                ),
                rounds,
                imports=("requests",),
            ),
            Row(
                "httpx Client.get",
                in_entry(lambda: httpx_client.get(http_url).raise_for_status()),
                ("httpx", "httpx._client", 0, lambda: (httpx_client, next(requests_)), response),
                rounds,
                imports=("httpx",),
            ),
            Row(
                "httpx AsyncClient.get",
                in_entry(
                    lambda: loop.run_until_complete(async_client.get(http_url)).raise_for_status()
                ),
                ("httpx", "httpx._client", 1, lambda: (async_client, next(requests_)), response),
                rounds,
            ),
            Row(
                "sqs.send_message (moto)",
                in_entry(
                    lambda: sqs.send_message(
                        QueueUrl=queue, MessageBody="x", MessageAttributes=attributes
                    )
                ),
                (
                    "botocore",
                    "botocore.client",
                    0,
                    lambda: (sqs, "SendMessage", params),
                    sqs_result,
                ),
                max(rounds // 4, 5),
                imports=("boto3",),
            ),
        ]

        rows += _databases.rows(Row, in_entry, rounds, databases)
        uninstrument()

        same_bytes = {
            "X-INSTANA-T": "1234567890abcdef",
            "X-INSTANA-S": "1234567890abcdef",
            "X-INSTANA-L": "1",
            "traceparent": "00-00000000000000001234567890abcdef-1234567890abcdef-01",
            "tracestate": "in=1234567890abcdef;1234567890abcdef",
        }
        get_same_bytes = in_entry(
            lambda: session.get(http_url, headers=same_bytes).raise_for_status()
        )

        for row in rows:  # warm up connections, caches and moto
            for _ in range(20):
                row.call()
        sqs.purge_queue(QueueUrl=queue)

        results = []
        for row in rows:
            on, off = alternate(row.call, instrumented, uninstrument, row.rounds)
            instrument(client)
            situ = in_situ_us(row.call, row.rounds * 10)
            uninstrument()
            results.append((row, on, off, situ))
        # The same request bytes without instrumentation: what the five extra headers cost the
        # network and the server, as opposed to our tracing work.
        _, get_headers_off = alternate(get_same_bytes, uninstrument, uninstrument, rounds)

        instrument(client)
        scope = instana.entry_span("bench", flush=False)
        scope.__enter__()
        tight = []
        for row in rows:
            tight.append(tight_loop_us(*row.work, rounds=rounds))
            client.buffer.drain()
        scope.__exit__(None, None, None)
        uninstrument()
        httpx_client.close()
        loop.run_until_complete(async_client.aclose())
        loop.close()

    import_runs = max(rounds // 4, 5)
    imports = [
        (row.label, row.imports, *import_cost_ms(row.imports, import_runs))
        for row in rows
        if row.imports
    ]

    print("instana-serverless outbound benchmark (medians, µs per call, loopback servers)")
    lines: List[Tuple[str, str]] = []
    for (row, on, off, situ), work in zip(results, tight):
        lines += [
            (f"{row.label}: bare call", f"{off:.1f} us"),
            (f"{row.label}: instrumented", f"{on:.1f} us"),
            ("  added time (ratio)", f"{on - off:+.1f} us ({on / off:.3f}x)"),
            ("  tracing work, inside real calls", f"{situ:.1f} us"),
            ("  tracing work, tight loop", f"{work:.1f} us"),
        ]
    requests_on = results[0][1]
    lines += [
        ("requests.get, bare + the same 5 headers", f"{get_headers_off:.1f} us"),
        ("  instrumented minus that", f"{requests_on - get_headers_off:+.1f} us"),
    ]
    for label, names, with_ms, without_ms in imports:
        lines.append(
            (
                f"import {', '.join(names)} ({label}): with us / without",
                f"{with_ms:.1f} / {without_ms:.1f} ms ({with_ms - without_ms:+.2f} ms)",
            )
        )
    print(table(lines))


if __name__ == "__main__":
    main()
