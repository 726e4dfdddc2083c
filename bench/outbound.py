"""Outbound-call figures: the cost of a traced ``requests`` call and SQS ``send_message``.

    .venv/bin/python bench/outbound.py

Prints medians only; nothing passes or fails. Two views per call:

- end to end: the same call inside an entry span, instrumented against uninstrumented
  (alternating blocks, so drift hits both equally); the loopback round trip dominates and
  its jitter is of the order of the difference, so read it as a sanity check;
- tracing work only: what the patch adds around the library call (start the exit span,
  inject the context, record the result, end it): timed in a tight loop without the
  network, and timed around those steps inside real calls.

The HTTP service and moto run in separate processes so they do not share our GIL.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def in_situ_us(module: Any, call: Callable[[], object], count: int) -> float:
    """Median µs of the patch's own before/after steps, timed inside real calls (caches as
    cold as they really are, unlike a tight loop)."""
    before, after = module._before, module._after
    samples: List[float] = []

    def timed_before(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return before(*args)
        finally:
            samples.append(time.perf_counter() - start)

    def timed_after(*args: Any) -> None:
        start = time.perf_counter()
        try:
            after(*args)
        finally:
            samples[-1] += time.perf_counter() - start

    module._before, module._after = timed_before, timed_after
    try:
        for _ in range(count):
            call()
    finally:
        module._before, module._after = before, after
    return statistics.median(samples) * 1e6


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "60"))
    import boto3
    import requests
    import urllib3

    import instana_serverless as instana
    from instana_serverless.instrumentation import botocore_, instrument, uninstrument, urllib3_

    # Spans are drained, never flushed: the reporter's cost is bench/core.py's subject.
    client = instana.configure(
        instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="bench"), environ={}
    )

    def instrumented() -> None:
        instrument(client)

    http_port, moto_port = free_port(), free_port()
    http = process([sys.executable, "-c", HTTP_SERVER, str(http_port)], http_port)
    moto = process(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], moto_port
    )
    with http as http_url, moto as moto_url:
        session = requests.Session()
        sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
        queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
        attributes = {"tenant": {"DataType": "String", "StringValue": "acme"}}

        def get() -> None:
            with instana.entry_span("bench", flush=False):
                session.get(http_url).raise_for_status()
            client.buffer.drain()

        same_bytes = {
            "X-INSTANA-T": "1234567890abcdef",
            "X-INSTANA-S": "1234567890abcdef",
            "X-INSTANA-L": "1",
            "traceparent": "00-00000000000000001234567890abcdef-1234567890abcdef-01",
            "tracestate": "in=1234567890abcdef;1234567890abcdef",
        }

        def get_same_bytes() -> None:
            with instana.entry_span("bench", flush=False):
                session.get(http_url, headers=same_bytes).raise_for_status()
            client.buffer.drain()

        def send() -> None:
            with instana.entry_span("bench", flush=False):
                sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes=attributes)
            client.buffer.drain()

        for _ in range(100):
            get()
        for _ in range(20):
            send()
        sqs.purge_queue(QueueUrl=queue)
        get_on, get_off = alternate(get, instrumented, uninstrument, rounds)
        # The same request bytes without instrumentation: what the five extra headers cost the
        # network and the server, as opposed to our tracing work.
        _, get_headers_off = alternate(get_same_bytes, uninstrument, uninstrument, rounds)
        send_on, send_off = alternate(send, instrumented, uninstrument, max(rounds // 4, 5))

        instrument(client)
        get_in_situ = in_situ_us(urllib3_, get, rounds * 20)
        send_in_situ = in_situ_us(botocore_, send, rounds * 2)
        uninstrument()

        # Tracing work alone: the patches' before/after around a call that is not made.
        pool = urllib3.HTTPConnectionPool("127.0.0.1", http_port)
        response = urllib3.HTTPResponse(body=b"", status=200, headers={"Content-Length": "0"})
        headers = {"Accept": "*/*", "User-Agent": "bench"}
        params = {"QueueUrl": queue, "MessageBody": "x", "MessageAttributes": attributes}
        result: Any = {"MessageId": "m", "ResponseMetadata": {"HTTPStatusCode": 200}}

        def urllib3_work() -> None:
            prepared = urllib3_._before(pool, "GET", "/orders?page=2", headers)
            assert prepared is not None
            urllib3_._after(prepared[0], prepared[2], response, None)

        def sqs_work() -> None:
            prepared = botocore_._before(sqs, "SendMessage", params)
            assert prepared is not None
            botocore_._after(prepared[0], prepared[2], result, None)

        instrument(client)
        scope = instana.entry_span("bench", flush=False)
        scope.__enter__()
        work: List[Tuple[str, float]] = []
        for name, fn in (("urllib3", urllib3_work), ("sqs", sqs_work)):
            samples = []
            for _ in range(rounds):
                samples.append(median_us(fn, 1, inner=200))
                client.buffer.drain()
            work.append((name, statistics.median(samples)))
        scope.__exit__(None, None, None)
        uninstrument()

    print("instana-serverless outbound benchmark (medians, µs per call)")
    print(
        table(
            [
                ("requests.get loopback, uninstrumented", f"{get_off:.1f} us"),
                ("requests.get loopback, instrumented", f"{get_on:.1f} us"),
                ("  difference", f"{get_on - get_off:+.1f} us"),
                ("requests.get, uninstrumented + same 5 headers", f"{get_headers_off:.1f} us"),
                ("  instrumented minus that", f"{get_on - get_headers_off:+.1f} us"),
                ("sqs.send_message moto, uninstrumented", f"{send_off:.1f} us"),
                ("sqs.send_message moto, instrumented", f"{send_on:.1f} us"),
                ("  difference", f"{send_on - send_off:+.1f} us"),
                ("tracing work per requests call, tight loop", f"{work[0][1]:.1f} us"),
                ("tracing work per requests call, inside real calls", f"{get_in_situ:.1f} us"),
                ("tracing work per send_message, tight loop", f"{work[1][1]:.1f} us"),
                ("tracing work per send_message, inside real calls", f"{send_in_situ:.1f} us"),
            ]
        )
    )


if __name__ == "__main__":
    main()
