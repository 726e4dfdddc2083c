"""Outbound-call figures per instrumented library: requests, httpx (sync and async), SQS,
urllib.request / http.client, aiohttp, logging, redis, pymongo, Pub/Sub, aiobotocore, gRPC
(sync and aio, grpcio's server in a child process), Cloud Storage (gcp-storage-emulator), the
database drivers and SQLAlchemy (bench/_databases.py, real PostgreSQL and MariaDB), the Kafka
clients (bench/_kafka.py, a real Tansu broker), and pika and aio-pika (bench/_rabbitmq.py, a
real RabbitMQ node). ``BENCH_ONLY=<word>`` keeps the rows whose label names it.

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
from typing import Any, Callable, Dict, Iterator, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _databases, _kafka, _rabbitmq
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


def in_situ_us(call: Callable[[], object], count: int, steps: Any = None) -> float:
    """Median µs of the shared wrapper's own steps (guard, start, inject, activate; then end,
    finish), timed inside real calls (caches as cold as they really are, unlike a tight loop).
    ``steps``: (owner, begin attribute, finish attribute) of a library hook (a listener) that
    makes its spans without the wrapper."""
    from instana_serverless.instrumentation import _wrap

    owner, begin_attr, finish_attr = steps or (_wrap, "begin", "finish")
    begin, finish = getattr(owner, begin_attr), getattr(owner, finish_attr)
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
            if samples:
                samples[-1] += time.perf_counter() - start

    setattr(owner, begin_attr, timed_begin)
    setattr(owner, finish_attr, timed_finish)
    try:
        for _ in range(count):
            call()
    finally:
        setattr(owner, begin_attr, begin)
        setattr(owner, finish_attr, finish)
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
    instrumentation = import_module(f"instana_serverless.instrumentation.{entry_name}")
    patch = instrumentation.PATCHES[module][index]
    # Custom/Install patches (http.client, logging, psycopg2, SQLAlchemy) run their module's
    # start/inject/end
    start = getattr(patch, "start", None) or instrumentation.start
    inject = getattr(patch, "inject", getattr(instrumentation, "inject", None))
    end = getattr(patch, "end", getattr(instrumentation, "end", None))

    def work() -> None:
        call = _wrap.begin(entry, start, inject, args(), {})
        assert call is not None
        _wrap.finish(entry, end, call, result, None)

    return statistics.median(median_us(work, 1, inner=200) for _ in range(rounds))


def stack_cost_us(rounds: int, depth: int = 35) -> Tuple[float, float, int]:
    """Median µs to take one exit span's stack at the default length (30 frames) from a call
    ``depth`` frames deep (a Lambda runtime, a handler and a library's own frames), and what
    the official sensor's way (``traceback.extract_stack``, every frame rendered, then cut)
    costs at the same depth; and the frames sent."""
    import traceback

    from instana_serverless.instrumentation._stack import capture

    def official() -> List[Dict[str, Any]]:
        frames = traceback.extract_stack()
        frames.reverse()
        return [{"c": f[0], "n": f[1], "m": f[2]} for f in frames][:30]

    def nested(n: int, fn: Callable[[], Any]) -> Any:
        return fn() if n == 0 else nested(n - 1, fn)

    def ours() -> Any:
        return capture(30)

    def measure() -> Tuple[float, float, int]:
        ours_us = statistics.median(median_us(ours, 1, inner=200) for _ in range(rounds))
        official_us = statistics.median(
            median_us(official, 1, inner=20) for _ in range(max(rounds // 4, 3))
        )
        return ours_us, official_us, len(ours())

    return nested(depth - len(traceback.extract_stack()), measure)  # type: ignore[no-any-return]


_IMPORT_PROBE = """
import time
import instana_serverless as instana
instana.configure(instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="k"), environ={})
hooks = [0.0]
if INSTRUMENT:
    instana.instrument()
    from instana_serverless.instrumentation import _imports

    run_hooks = _imports._run

    def timed_hooks(*args):
        begun = time.perf_counter()
        try:
            run_hooks(*args)
        finally:
            hooks[0] += time.perf_counter() - begun

    _imports._run = timed_hooks
start = time.perf_counter()
for name in IMPORTS:
    __import__(name)
print((time.perf_counter() - start) * 1000, hooks[0] * 1000)
"""


def import_cost_ms(imports: Tuple[str, ...], runs: int) -> Tuple[float, float, float]:
    """Median ms to import ``imports`` in fresh interpreters (bytecode cached, as deployed),
    with and without ``instrument()`` before, alternating so load changes hit both; and the
    median ms spent in our import hooks (loading our patch modules and patching), which is
    what "with us" adds without the noise of two ~100 ms imports compared."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    codes = [
        _IMPORT_PROBE.replace("INSTRUMENT", repr(flag)).replace("IMPORTS", repr(imports))
        for flag in (True, False)
    ]
    samples: Tuple[List[float], List[float]] = ([], [])
    hooks: List[float] = []
    for index in range(runs + 1):
        # Which of the pair runs first alternates too: the first of two back-to-back
        # interpreters was measurably slower here, a bias that would land on one side.
        pairs = list(zip(codes, samples))
        for code, values in pairs if index % 2 else pairs[::-1]:
            out = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
            )
            if index:  # the first run wrote the bytecode the others read
                total, in_hooks = out.stdout.strip().splitlines()[-1].split()
                values.append(float(total))
                if values is samples[0]:
                    hooks.append(float(in_hooks))
    return statistics.median(samples[0]), statistics.median(samples[1]), statistics.median(hooks)


class Row:
    """One library call in the table: ``call`` makes it inside an entry span; ``work`` is
    (entry, watched module, patch index, args, result) for the tight loop; ``imports`` what a
    user imports (timed in fresh interpreters, with and without us)."""

    def __init__(
        self,
        label: str,
        call: Callable[[], object],
        work: Any,
        rounds: int,
        imports: Tuple[str, ...] = (),
        steps: Any = None,
    ) -> None:
        #: ``work`` is the tuple above, or a callable(rounds) -> µs for a library hook;
        #: ``steps`` what ``in_situ_us`` times for such a hook
        self.steps = steps
        self.imports = imports
        self.label = label
        self.call = call
        self.work = work
        self.rounds = rounds


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "60"))
    import asyncio
    import io
    import logging
    import urllib.request
    from http.client import HTTPConnection
    from types import SimpleNamespace

    import aiohttp
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
        conn = HTTPConnection(f"127.0.0.1:{http_port}", timeout=5)
        bare_response = SimpleNamespace(status=200, reason="OK", headers={})

        def keep_alive_get() -> None:
            conn.request("GET", "/orders?page=2", headers=headers)
            conn.getresponse().read()

        def urlopen_get() -> None:
            with urllib.request.urlopen(f"{http_url}/orders?page=2", timeout=5) as answer:
                answer.read()

        async def new_session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession()

        aiohttp_session = loop.run_until_complete(new_session())

        async def aiohttp_get_async() -> None:
            async with aiohttp_session.get(f"{http_url}/orders?page=2") as answer:
                await answer.read()

        def aiohttp_get() -> None:
            loop.run_until_complete(aiohttp_get_async())

        app_log = logging.getLogger("bench.app")
        app_log.propagate = False
        app_log.setLevel(logging.INFO)
        app_log.addHandler(logging.StreamHandler(io.StringIO()))
        record = app_log.makeRecord(
            "bench.app", logging.WARNING, __file__, 1, "order %s", (7,), None
        )
        params = {"QueueUrl": queue, "MessageBody": "x", "MessageAttributes": attributes}
        sqs_result: Any = {"MessageId": "m", "ResponseMetadata": {"HTTPStatusCode": 200}}

        # redis-server, the gRPC Pub/Sub fake, demo.Orders and the GCS emulator in their own
        # processes; MockupDB is an in-process test server (tests/servers.py), so its share of
        # our GIL is in both columns.
        from tests import servers as test_servers

        redis_server = test_servers.start_redis()
        mongo_fake = test_servers.start_mongo_fake()
        pubsub_fake = test_servers.start_pubsub_fake()
        orders = test_servers.start_grpc_orders()
        gcs_emulator = test_servers.start_gcs_emulator()
        stops: List[Callable[[], object]] = [
            redis_server.stop,
            mongo_fake.stop,
            pubsub_fake.stop,
            orders.stop,
            gcs_emulator.stop,
        ]
        import aiobotocore.session
        import grpc
        import pymongo
        import redis
        from google.cloud import pubsub_v1
        from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

        cache = redis.Redis(host=redis_server.host, port=redis_server.port)
        mongo = pymongo.MongoClient(mongo_fake.uri)  # made before instrument(): untraced
        publisher = pubsub_v1.PublisherClient(
            transport=PublisherGrpcTransport(
                channel=grpc.insecure_channel(pubsub_fake.emulator_host)
            )
        )
        topic = "projects/bench/topics/orders"
        aio_session = aiobotocore.session.get_session()
        aio_sqs = loop.run_until_complete(
            aio_session.create_client(
                "sqs", endpoint_url=moto_url, region_name="us-east-1"
            ).__aenter__()
        )
        stops.append(lambda: loop.run_until_complete(aio_sqs.__aexit__(None, None, None)))

        from instana_serverless.instrumentation import patched as patched_names

        # pymongo gives a client the listeners registered when it is created: the bare call
        # uses a client made before instrument(), the traced one a client made after.
        mongo_clients = {False: mongo}

        def mongo_find() -> None:
            on = "pymongo" in patched_names()
            if on and True not in mongo_clients:
                mongo_clients[True] = pymongo.MongoClient(mongo_fake.uri)
            mongo_clients[on].bench.orders.find_one({"sku": 1})

        def mongo_work(rounds: int) -> float:
            """The listener's started + succeeded around a find, without the network."""
            from datetime import timedelta

            from pymongo import monitoring

            listener = monitoring._instana_serverless_listener  # type: ignore[attr-defined]
            command = {"find": "orders", "filter": {"sku": 1}, "limit": 1, "$db": "bench"}
            address = ("127.0.0.1", mongo_fake.port)
            started = monitoring.CommandStartedEvent(command, "bench", 7, address, 7)
            reply = {"ok": 1, "cursor": {"id": 0, "firstBatch": []}}
            done = monitoring.CommandSucceededEvent(
                timedelta(microseconds=50), reply, "find", 7, address, 7
            )

            def work() -> None:
                listener.started(started)
                listener.succeeded(done)

            return statistics.median(median_us(work, 1, inner=200) for _ in range(rounds))

        import grpc.aio
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from demo.grpc_service import GET
        from instana_serverless.instrumentation import pymongo as pymongo_instr

        orders_channel = grpc.insecure_channel(orders.target)
        get_order = orders_channel.unary_unary(GET)

        async def aio_channel() -> Any:
            return grpc.aio.insecure_channel(orders.target)

        orders_aio = loop.run_until_complete(aio_channel())
        get_order_aio = orders_aio.unary_unary(GET)
        gcs = storage.Client(
            project="bench",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": gcs_emulator.url},
        )
        gcs.create_bucket("orders").blob("a/1.json").upload_from_string(b"{}")
        gcs_blob = gcs.bucket("orders").blob("a/1.json")
        gcs_connection = gcs._connection

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
            Row(
                "http.client keep-alive GET",
                in_entry(keep_alive_get),
                (
                    "http_client",
                    "http.client",
                    0,
                    lambda: (conn, "GET", "/orders?page=2", None, headers),
                    bare_response,
                ),
                rounds,
            ),
            Row(
                "urllib.request.urlopen",
                in_entry(urlopen_get),
                (
                    "http_client",
                    "http.client",
                    0,
                    lambda: (conn, "GET", "/orders?page=2", None, headers),
                    bare_response,
                ),
                max(rounds // 2, 5),
                imports=("urllib.request",),
            ),
            Row(
                "aiohttp ClientSession.get",
                in_entry(aiohttp_get),
                (
                    "aiohttp",
                    "aiohttp.client",
                    0,
                    lambda: (aiohttp_session, "GET", f"{http_url}/orders?page=2"),
                    bare_response,
                ),
                rounds,
                imports=("aiohttp",),
            ),
            Row(
                "logging warning (StringIO handler)",
                in_entry(lambda: app_log.warning("order %s", 7)),
                ("log", "logging", 0, lambda: (app_log, record), None),
                rounds,
                imports=("logging",),
            ),
            Row(
                "redis GET (redis-server)",
                in_entry(lambda: cache.get("bench")),
                ("redis", "redis.client", 0, lambda: (cache, "GET", "bench"), b"v"),
                rounds,
                imports=("redis",),
            ),
            Row(
                "redis pipeline SET+GET",
                in_entry(lambda: cache.pipeline().set("bench", "v").get("bench").execute()),
                (
                    "redis",
                    "redis.client",
                    2,
                    lambda: (cache.pipeline().set("bench", "v").get("bench"),),
                    [True, b"v"],
                ),
                rounds,
            ),
            Row(
                "pymongo find_one (MockupDB)",
                in_entry(mongo_find),
                mongo_work,
                max(rounds // 2, 5),
                imports=("pymongo",),
                steps=(pymongo_instr._Spans, "started", "ended"),
            ),
            Row(
                "pubsub publish().result() (gRPC fake)",
                in_entry(lambda: publisher.publish(topic, b"x", tenant="a").result(10)),
                (
                    "pubsub",
                    "google.cloud.pubsub_v1.publisher.client",
                    0,
                    lambda: (publisher, topic, b"x"),
                    None,
                ),
                max(rounds // 2, 5),
                imports=("google.cloud.pubsub_v1",),
            ),
            Row(
                "aiobotocore sqs.send_message (moto)",
                in_entry(
                    lambda: loop.run_until_complete(
                        aio_sqs.send_message(
                            QueueUrl=queue, MessageBody="x", MessageAttributes=attributes
                        )
                    )
                ),
                (
                    "aiobotocore",
                    "aiobotocore.client",
                    0,
                    lambda: (aio_sqs, "SendMessage", params),
                    sqs_result,
                ),
                max(rounds // 4, 5),
                imports=("aiobotocore.session",),
            ),
            Row(
                "grpc unary call (grpcio server)",
                in_entry(lambda: get_order(b"7", timeout=5)),
                ("grpc", "grpc._channel", 1, lambda: (get_order, b"7"), b"{}"),
                rounds,
                imports=("grpc",),
            ),
            Row(
                "grpc.aio unary call (grpcio server)",
                in_entry(lambda: loop.run_until_complete(get_order_aio(b"7", timeout=5))),
                ("grpc", "grpc.aio._channel", 0, lambda: (get_order_aio, b"7"), None),
                rounds,
            ),
            Row(
                "gcs blob.reload (emulator)",
                in_entry(gcs_blob.reload),
                (
                    "gcs",
                    "google.cloud.storage._http",
                    0,
                    lambda: (gcs_connection, "GET", "/b/orders/o/a%2F1.json", {}),
                    {},
                ),
                max(rounds // 2, 5),
                imports=("google.cloud.storage",),
            ),
        ]

        rows += _databases.rows(Row, in_entry, rounds, databases)
        rows += _kafka.rows(Row, in_entry, rounds, databases, loop, stops)
        rows += _rabbitmq.rows(Row, in_entry, rounds, databases)
        only = os.environ.get("BENCH_ONLY", "").lower()
        if only:  # e.g. BENCH_ONLY=kafka: the rows whose label names it
            rows = [row for row in rows if only in row.label.lower()]
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
            situ = in_situ_us(row.call, row.rounds * 10, row.steps)
            uninstrument()
            results.append((row, on, off, situ))
        # The same request bytes without instrumentation: what the five extra headers cost the
        # network and the server, as opposed to our tracing work.
        _, get_headers_off = alternate(get_same_bytes, uninstrument, uninstrument, rounds)
        # Records below WARNING make no span: what the level check costs them.
        info_on, info_off = alternate(
            in_entry(lambda: app_log.info("order %s", 7)), instrumented, uninstrument, rounds
        )

        instrument(client)
        scope = instana.entry_span("bench", flush=False)
        scope.__enter__()
        tight = []
        for row in rows:
            if callable(row.work):
                tight.append(row.work(rounds))
            else:
                tight.append(tight_loop_us(*row.work, rounds=rounds))
            client.buffer.drain()
        scope.__exit__(None, None, None)
        uninstrument()
        httpx_client.close()
        conn.close()
        loop.run_until_complete(aiohttp_session.close())
        loop.run_until_complete(async_client.aclose())
        publisher.stop()
        orders_channel.close()
        loop.run_until_complete(orders_aio.close())
        gcs.close()
        for mongo_client in mongo_clients.values():
            mongo_client.close()
        cache.close()
        for stop in stops[::-1]:
            stop()
        loop.close()

    import_runs = max(rounds // 4, 5)
    imports = [
        (row.label, row.imports, *import_cost_ms(row.imports, import_runs))
        for row in rows
        if row.imports
    ]

    stack_us, official_stack_us, stack_frames = stack_cost_us(rounds)

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
    if results and results[0][0].label == "requests.get":  # not left out by BENCH_ONLY
        requests_on = results[0][1]
        lines += [
            ("requests.get, bare + the same 5 headers", f"{get_headers_off:.1f} us"),
            ("  instrumented minus that", f"{requests_on - get_headers_off:+.1f} us"),
            (
                "logging info (below WARNING): bare / instrumented",
                f"{info_off:.2f} / {info_on:.2f} us",
            ),
        ]
    lines += [
        (
            f"stack trace per exit span ({stack_frames} frames of a 35-deep call; in the "
            "tracing work above)",
            f"{stack_us:.2f} us",
        ),
        (
            "  the official sensor's way (traceback.extract_stack), same call",
            f"{official_stack_us:.1f} us ({official_stack_us / stack_us:.0f}x ours)",
        ),
    ]
    for label, names, with_ms, without_ms, hooks_ms in imports:
        lines.append(
            (
                f"import {', '.join(names)} ({label}): with us / without; in our hooks",
                f"{with_ms:.1f} / {without_ms:.1f} ms ({with_ms - without_ms:+.2f} ms); "
                f"{hooks_ms:.2f} ms",
            )
        )
    print(table(lines))


if __name__ == "__main__":
    main()
