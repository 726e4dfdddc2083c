"""grpcio clients and servers, sync and ``grpc.aio``, against grpcio's own server on loopback
(demo/grpc_service.py): a Lambda function's calls of each type are ``rpc-client`` exits whose
context the server's ``rpc-server`` entries continue (one trace), errors mark both sides, the
caller's metadata is kept, suppression travels on."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Iterator, List, Tuple

import grpc
import grpc.aio
import pytest

import instana_serverless as instana
from demo.grpc_service import CHAT, GET, MISSING, UPLOAD, WATCH, AioOrders, SyncOrders
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.instrumentation import grpc as grpc_instr
from instana_serverless.instrumentation import uninstrument
from tests.conftest import configure_for
from tests.instr_support import traced
from tests.lambda_fixtures import make_context

__all__ = ["traced"]  # a fixture, used by name as a test argument

USER_METADATA = (("tenant", "acme"), ("x-instana-t", "0000000000000bad"))
CALLS = [(GET, "unary"), (WATCH, "stream"), (UPLOAD, "stream"), (CHAT, "stream")]


@pytest.fixture
def sync_orders(traced: Client) -> Iterator[SyncOrders]:
    server = SyncOrders()  # built while instrumented: its calls are entries
    yield server
    server.stop()


@pytest.fixture
def aio_orders(traced: Client) -> Iterator[AioOrders]:
    server = AioOrders()
    yield server
    server.stop()


def sync_calls(target: str) -> List[Any]:
    """One call of each type, each with the caller's own metadata."""
    with grpc.insecure_channel(target) as channel:
        return [
            json.loads(channel.unary_unary(GET)(b"7", metadata=USER_METADATA))["order"],
            list(channel.unary_stream(WATCH)(b"7", metadata=USER_METADATA)),
            channel.stream_unary(UPLOAD)(iter([b"a", b"b"]), metadata=USER_METADATA),
            list(channel.stream_stream(CHAT)(iter([b"x", b"y"]), metadata=USER_METADATA)),
        ]


async def aio_calls(target: str) -> List[Any]:
    async with grpc.aio.insecure_channel(target) as channel:
        metadata = grpc.aio.Metadata(*USER_METADATA)
        got = await channel.unary_unary(GET)(b"7", metadata=metadata)

        async def requests() -> Any:
            for item in (b"a", b"b"):
                yield item

        async def chat() -> Any:
            for item in (b"x", b"y"):
                yield item

        return [
            json.loads(got)["order"],
            [m async for m in channel.unary_stream(WATCH)(b"7", metadata=USER_METADATA)],
            await channel.stream_unary(UPLOAD)(requests(), metadata=USER_METADATA),
            [m async for m in channel.stream_stream(CHAT)(chat(), metadata=USER_METADATA)],
        ]


EXPECTED = ["7", [b"7:0", b"7:1", b"7:2"], b"a,b", [b"X", b"Y"]]


def one_trace(
    acceptor: Acceptor, calls: int
) -> Tuple[Dict[str, Any], List[Dict[str, Any]], List[Dict[str, Any]]]:
    """The Lambda entry, the rpc-client exits and the rpc-server entries of ``calls`` calls."""
    spans = acceptor.wait_for_spans(1 + 2 * calls)
    (entry,) = [s for s in spans if s["n"] == "aws.lambda.entry"]
    clients = [s for s in spans if s["n"] == "rpc-client"]
    servers = [s for s in spans if s["n"] == "rpc-server"]
    assert len(clients) == len(servers) == calls, [s["n"] for s in spans]
    assert {s["t"] for s in spans} == {entry["t"]}
    return entry, clients, servers


def check_pairs(
    entry: Dict[str, Any],
    clients: List[Dict[str, Any]],
    servers: List[Dict[str, Any]],
    port: int,
    server_address: bool,
) -> None:
    by_parent = {s["p"]: s for s in servers}
    for client_span, (call, call_type) in zip(sorted(clients, key=lambda s: s["ts"]), CALLS):
        assert client_span["k"] == 2 and client_span["p"] == entry["s"]
        assert client_span["ec"] == 0
        assert client_span["data"]["rpc"] == {
            "flavor": "grpc",
            "call": call,
            "call_type": call_type,
            "host": "127.0.0.1",
            "port": str(port),
        }
        server_span = by_parent[client_span["s"]]  # continues the client's context
        assert server_span["k"] == 1 and server_span["ec"] == 0
        rpc = {"flavor": "grpc", "call": call, "call_type": call_type}
        if server_address:  # the :authority, known to sync servers only
            rpc.update(host="127.0.0.1", port=str(port))
        assert server_span["data"]["rpc"] == rpc


def test_sync_calls_of_each_type_are_one_trace_with_the_server_entries(
    acceptor: Acceptor, sync_orders: SyncOrders
) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return sync_calls(sync_orders.target)

    assert handler({}, make_context()) == EXPECTED
    entry, clients, servers = one_trace(acceptor, 4)
    check_pairs(entry, clients, servers, sync_orders.port, server_address=True)
    # the caller's metadata arrives; its stale trace key is replaced by ours
    assert sync_orders.last_metadata["tenant"] == "acme"
    chat = next(s for s in clients if s["data"]["rpc"]["call"] == CHAT)
    assert sync_orders.last_context["x-instana-s"] == chat["s"]
    assert sync_orders.last_context["x-instana-t"] == entry["t"]
    assert sync_orders.last_context["traceparent"].split("-")[2] == chat["s"]


def test_aio_calls_of_each_type_are_one_trace_with_the_server_entries(
    acceptor: Acceptor, aio_orders: AioOrders
) -> None:
    @lambda_handler
    async def handler(event: Any, context: Any) -> Any:
        return await aio_calls(aio_orders.target)

    assert handler({}, make_context()) == EXPECTED
    entry, clients, servers = one_trace(acceptor, 4)
    check_pairs(entry, clients, servers, aio_orders.port, server_address=False)
    assert aio_orders.last_metadata["tenant"] == "acme"
    assert aio_orders.last_context["x-instana-t"] == entry["t"]


def test_sync_client_to_aio_server_and_future(acceptor: Acceptor, aio_orders: AioOrders) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        with grpc.insecure_channel(aio_orders.target) as channel:
            future = channel.unary_unary(GET).future(b"8")
            return json.loads(future.result(timeout=10))["order"]

    assert handler({}, make_context()) == "8"
    entry, (client_span,), (server_span,) = one_trace(acceptor, 1)
    assert client_span["data"]["rpc"]["call_type"] == "unary"
    assert server_span["p"] == client_span["s"] and client_span["p"] == entry["s"]


@pytest.mark.parametrize("kind", ["sync", "aio"])
def test_a_non_ok_status_marks_the_exit_and_the_entry(
    acceptor: Acceptor, request: pytest.FixtureRequest, kind: str
) -> None:
    server = request.getfixturevalue(f"{kind}_orders")

    async def aio_get() -> Any:
        async with grpc.aio.insecure_channel(server.target) as channel:
            return await channel.unary_unary(GET)(MISSING)

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        try:
            if kind == "sync":
                with grpc.insecure_channel(server.target) as channel:
                    channel.unary_unary(GET)(MISSING)
            else:
                asyncio.run(aio_get())
        except grpc.RpcError as error:  # the library's own error, unchanged
            return error.code().name, error.details()
        return None

    assert handler({}, make_context()) == ("NOT_FOUND", "no such order")
    _entry, (client_span,), (server_span,) = one_trace(acceptor, 1)
    raised = "_InactiveRpcError" if kind == "sync" else "AioRpcError"
    assert client_span["ec"] == 1
    assert client_span["data"]["rpc"]["error"] == f"{raised}: NOT_FOUND: no such order"
    assert server_span["ec"] == 1
    assert server_span["data"]["rpc"]["error"] == "NOT_FOUND: no such order"


def test_a_failed_response_stream_marks_its_exit(acceptor: Acceptor, traced: Client) -> None:
    """No server: the stream fails with UNAVAILABLE when read; the span ends with it."""
    from demo.servers import free_port

    with instana.entry_span("job"), grpc.insecure_channel(f"127.0.0.1:{free_port()}") as channel:
        stream = channel.unary_stream(WATCH)(b"7", timeout=5)
        with pytest.raises(grpc.RpcError) as raised:
            list(stream)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    spans = acceptor.wait_for_spans(2)
    (exit_span,) = [s for s in spans if s["k"] == 2]
    assert exit_span["ec"] == 1
    assert exit_span["data"]["rpc"]["error"].startswith("_MultiThreadedRendezvous: UNAVAILABLE")


def test_a_stream_the_client_cancels_is_no_error(
    acceptor: Acceptor, sync_orders: SyncOrders
) -> None:
    with instana.entry_span("job"), grpc.insecure_channel(sync_orders.target) as channel:
        stream = channel.unary_stream(WATCH)(b"7")
        assert next(stream) == b"7:0"
        stream.cancel()
    spans = acceptor.wait_for_spans(2)
    (exit_span,) = [s for s in spans if s["n"] == "rpc-client"]
    assert exit_span["ec"] == 0 and "error" not in exit_span["data"]["rpc"]


def test_a_handler_exception_marks_the_server_entry(acceptor: Acceptor, traced: Client) -> None:
    def broken(request: bytes, context: Any) -> bytes:
        raise ValueError("order book closed")

    from concurrent import futures

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "demo.Broken", {"Get": grpc.unary_unary_rpc_method_handler(broken)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with (
            grpc.insecure_channel(f"127.0.0.1:{port}") as channel,
            pytest.raises(grpc.RpcError) as raised,
        ):
            channel.unary_unary("/demo.Broken/Get")(b"1")  # outside a trace: no exit
        assert raised.value.code() == grpc.StatusCode.UNKNOWN
        (entry,) = acceptor.wait_for_spans(1)  # a trace of its own, sent when the call ended
    finally:
        server.stop(None)
    assert entry["n"] == "rpc-server" and "p" not in entry
    assert entry["ec"] == 1
    assert entry["data"]["rpc"]["error"] == "ValueError: order book closed"


def test_a_suppressed_trace_passes_level_zero_and_records_nothing(
    acceptor: Acceptor, traced: Client, sync_orders: SyncOrders
) -> None:
    with instana.entry_span("job", headers={"X-INSTANA-L": "0"}):
        sync_calls(sync_orders.target)
    traced.flush()
    assert sync_orders.last_context["x-instana-l"] == "0"
    assert "x-instana-t" not in sync_orders.last_context
    assert acceptor.spans() == []


def test_disabled_or_uninstrumented_servers_open_no_entries(
    acceptor: Acceptor, sync_orders: SyncOrders
) -> None:
    with grpc.insecure_channel(sync_orders.target) as channel:
        configure_for(acceptor, disabled_instrumentations=["grpcio"])
        channel.unary_unary(GET)(b"1")
        configure_for(acceptor)
        channel.unary_unary(GET)(b"2")
        assert [s["n"] for s in acceptor.wait_for_spans(1)] == ["rpc-server"]
        uninstrument()  # a server built while instrumented goes quiet
        channel.unary_unary(GET)(b"3")
    instana.flush()
    assert len(acceptor.spans()) == 1


def test_our_bug_while_opening_an_entry_leaves_the_call_alone(
    acceptor: Acceptor, sync_orders: SyncOrders, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(grpc_instr, "open_entry", broken)
    with grpc.insecure_channel(sync_orders.target) as channel:
        assert json.loads(channel.unary_unary(GET)(b"5"))["order"] == "5"
        assert list(channel.unary_stream(WATCH)(b"5")) == [b"5:0", b"5:1", b"5:2"]
    instana.flush()
    assert acceptor.spans() == []


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("127.0.0.1:50051", ("127.0.0.1", "50051")),
        ("dns:///orders.internal:443", ("orders.internal", "443")),
        ("dns://8.8.8.8/orders.internal:443", ("orders.internal", "443")),
        ("ipv4:10.0.0.1:50051,10.0.0.2:50051", ("10.0.0.1", "50051")),
        ("[::1]:50051", ("::1", "50051")),
        ("ipv6:[::1]:50051", ("::1", "50051")),
        ("orders.internal", ("orders.internal", None)),
        ("unix:/run/orders.sock", (None, None)),
    ],
)
def test_channel_targets_give_host_and_port(target: str, expected: Tuple[Any, Any]) -> None:
    assert grpc_instr.split_target(target) == expected


class _Tenant(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """A user's client interceptor adding metadata of its own."""

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), ("tenant", "from-interceptor")]
        return continuation(details._replace(metadata=metadata), request)


def test_calls_through_client_interceptors_are_one_span_with_their_metadata(
    acceptor: Acceptor, sync_orders: SyncOrders
) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        with grpc.insecure_channel(sync_orders.target) as channel:
            intercepted = grpc.intercept_channel(channel, _Tenant())
            return json.loads(intercepted.unary_unary(GET)(b"9"))["order"]

    assert handler({}, make_context()) == "9"
    entry, (client_span,), (server_span,) = one_trace(acceptor, 1)
    assert client_span["p"] == entry["s"] and server_span["p"] == client_span["s"]
    assert sync_orders.last_metadata["tenant"] == "from-interceptor"


def test_an_aio_handler_writing_its_stream_is_one_entry_until_it_returns(
    acceptor: Acceptor, traced: Client
) -> None:
    """A response stream written with ``await context.write()`` (a coroutine, no generator)."""

    async def watch(request: bytes, context: Any) -> None:
        for step in range(2):
            await context.write(b"%s:%d" % (request, step))

    async def serve_and_call() -> List[bytes]:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "demo.Writer", {"Watch": grpc.unary_stream_rpc_method_handler(watch)}
                ),
            )
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                with instana.entry_span("job", flush=False):
                    got = [m async for m in channel.unary_stream("/demo.Writer/Watch")(b"w")]
                instana.flush()
                return got
        finally:
            await server.stop(None)

    assert asyncio.run(serve_and_call()) == [b"w:0", b"w:1"]
    spans = acceptor.wait_for_spans(3)
    served = next(s for s in spans if s["n"] == "rpc-server")
    call = next(s for s in spans if s["n"] == "rpc-client")
    assert served["p"] == call["s"] and served["data"]["rpc"]["call_type"] == "stream"
    assert served["ec"] == 0 and call["ec"] == 0


def test_a_grpc_service_on_cloud_run_sends_as_http_services_there(
    acceptor: Acceptor, emulator: Any, tmp_path: Any
) -> None:
    """demo.Orders in a process of its own with Cloud Run's environment, traced by
    ``instrument()`` alone: each call's entry continues the caller's context and leaves before
    the response, with the Cloud Run entity and the instance's metrics, as a wsgi entry does."""
    import os
    import subprocess
    import sys

    from demo.servers import free_port
    from tests.conftest import AGENT_KEY
    from tests.test_cloudrun_metadata import INSTANCE_ID

    revision = "orders-00003-grpc"
    port = free_port()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("INSTANA_", "K_", "AWS_", "GCE_", "GOOGLE_"))
        },
        "INSTANA_ENDPOINT_URL": acceptor.url,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        "INSTANA_GCP_METADATA_HOST": emulator.host,
        "K_SERVICE": "orders",
        "K_REVISION": revision,
        "K_CONFIGURATION": "orders",
    }
    log = open(tmp_path / "orders.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.grpc_service", str(port), "--traced"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            context = (("x-instana-t", "0af7651916cd43dd"), ("x-instana-s", "b7ad6b7169203331"))
            answer = json.loads(channel.unary_unary(GET)(b"3", metadata=context, timeout=10))
            assert answer["order"] == "3"
            (span,) = acceptor.wait_for_spans(1, timeout=10)  # sent before the response
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
    assert (span["n"], span["k"], span["t"], span["p"]) == (
        "rpc-server",
        1,
        "0af7651916cd43dd",
        "b7ad6b7169203331",
    )
    assert span["f"]["cp"] == "gcp"
    assert span["f"]["e"] in {INSTANCE_ID, f"gcp:cloud-run:revision:{revision}"}
    hosts = {r["headers"].get("x-instana-host") for r in acceptor.requests}
    assert hosts == {f"gcp:cloud-run:revision:{revision}"}
    plugins = {p["name"] for b in acceptor.bundles for p in b["metrics"]["plugins"]}
    assert "com.instana.plugin.gcp.run.revision.instance" in plugins
