"""A small gRPC service on grpcio's own server, for the demo, the tests and the benchmark.

``demo.Orders`` has one method of each call type, on raw bytes (no protoc step):

- ``Get`` (unary): ``b"<id>"`` -> a JSON document ``{"order": id, "context": {...}}`` whose
  ``context`` holds the trace metadata the call arrived with; ``b"missing"`` aborts with
  ``NOT_FOUND``;
- ``Watch`` (response stream): ``b"<id>"`` -> ``b"<id>:0"``, ``b"<id>:1"``, ``b"<id>:2"``;
- ``Upload`` (request stream): the requests joined with ``b","``;
- ``Chat`` (both streams): each request upper-cased;
- ``Track`` (response stream): one message, ``Get``'s document; ``b"missing"`` aborts with
  ``NOT_FOUND`` (the streaming twin of ``Get``, for the contract tests).

It runs in this process (``SyncOrders`` on grpc's thread pool, ``AioOrders`` on a
``grpc.aio`` server with its own event loop thread) or in a child process of its own
(``start_process``, ``python -m demo.grpc_service PORT``) where nothing traces the server,
or, with ``--traced``, the server traces itself as a user's service would (the demo).
Every server listens on a free loopback port; the handlers keep the trace metadata of the
last call in ``last_context``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, Optional

import grpc
import grpc.aio

from demo.servers import HOST, Process, _wait, free_port

SERVICE = "demo.Orders"
GET = f"/{SERVICE}/Get"
WATCH = f"/{SERVICE}/Watch"
UPLOAD = f"/{SERVICE}/Upload"
CHAT = f"/{SERVICE}/Chat"
TRACK = f"/{SERVICE}/Track"
MISSING = b"missing"
TRACE_KEYS = ("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate")


def trace_context(metadata: Any) -> Dict[str, str]:
    return {key: value for key, value in metadata or () if key in TRACE_KEYS}


class _Orders:
    def __init__(self) -> None:
        self.last_context: Dict[str, str] = {}
        self.last_metadata: Dict[str, Any] = {}
        self.calls = 0

    def _seen(self, context: Any) -> Dict[str, str]:
        self.calls += 1
        metadata = context.invocation_metadata()
        self.last_metadata = dict(metadata or ())
        self.last_context = trace_context(metadata)
        return self.last_context

    @staticmethod
    def _order(request: bytes, seen: Dict[str, str]) -> bytes:
        return json.dumps({"order": request.decode(), "context": seen}).encode()


class _SyncHandlers(_Orders):
    def get(self, request: bytes, context: Any) -> bytes:
        seen = self._seen(context)
        if request == MISSING:
            context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
        return self._order(request, seen)

    def watch(self, request: bytes, context: Any) -> Iterator[bytes]:
        self._seen(context)
        for step in range(3):
            yield b"%s:%d" % (request, step)

    def upload(self, requests: Iterator[bytes], context: Any) -> bytes:
        self._seen(context)
        return b",".join(requests)

    def chat(self, requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        self._seen(context)
        for request in requests:
            yield request.upper()

    def track(self, request: bytes, context: Any) -> Iterator[bytes]:
        yield self.get(request, context)


class _AioHandlers(_Orders):
    async def get(self, request: bytes, context: Any) -> bytes:
        seen = self._seen(context)
        if request == MISSING:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such order")
        return self._order(request, seen)

    async def watch(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        self._seen(context)
        for step in range(3):
            yield b"%s:%d" % (request, step)

    async def upload(self, requests: AsyncIterator[bytes], context: Any) -> bytes:
        self._seen(context)
        return b",".join([request async for request in requests])

    async def chat(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        self._seen(context)
        async for request in requests:
            yield request.upper()

    async def track(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield await self.get(request, context)


def _generic_handler(handlers: Any) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Get": grpc.unary_unary_rpc_method_handler(handlers.get),
            "Watch": grpc.unary_stream_rpc_method_handler(handlers.watch),
            "Upload": grpc.stream_unary_rpc_method_handler(handlers.upload),
            "Chat": grpc.stream_stream_rpc_method_handler(handlers.chat),
            "Track": grpc.unary_stream_rpc_method_handler(handlers.track),
        },
    )


class SyncOrders(_SyncHandlers):
    """The service on a sync ``grpc.server`` in this process."""

    def __init__(self) -> None:
        super().__init__()
        self.host = HOST
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((_generic_handler(self),))
        self.port = self._server.add_insecure_port(f"{HOST}:0")
        self._server.start()

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.stop(grace=None).wait(5)


class AioOrders(_AioHandlers):
    """The service on a ``grpc.aio`` server, served by an event loop on a thread of its own
    (so that sync and async clients alike can call it)."""

    def __init__(self) -> None:
        super().__init__()
        self.host = HOST
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: Optional[grpc.aio.Server] = None
        self.port = self._run(self._start())

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start(self) -> int:
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers((_generic_handler(self),))
        port = self._server.add_insecure_port(f"{HOST}:0")
        await self._server.start()
        return port

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._run(self._server.stop(None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class ProcessOrders:
    """The sync service in a child process (nothing traces it)."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.host = HOST
        self.port = port

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self.process.stop()


def start_process(log_dir: Path) -> ProcessOrders:
    port = free_port()
    process = Process(
        "grpc-orders",
        [sys.executable, "-m", "demo.grpc_service", str(port)],
        log_dir / "grpc-orders.log",
    )

    def ready() -> bool:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
            except grpc.FutureTimeoutError:
                return False
            return True

    _wait("grpc-orders", ready, [process], 30.0)
    return ProcessOrders(process, port)


def main(port: int, traced: bool = False) -> None:
    if traced:
        # what a gRPC service does to be traced: instrument before building the server
        # (configured from INSTANA_ENDPOINT_URL / INSTANA_AGENT_KEY)
        import instana_serverless

        instana_serverless.instrument()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((_generic_handler(_SyncHandlers()),))
    server.add_insecure_port(f"{HOST}:{port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main(int(sys.argv[1]), traced="--traced" in sys.argv[2:])
