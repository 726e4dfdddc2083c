"""grpcio unary calls (sync and ``grpc.aio``) and a sync response stream, against the
demo.Orders service in a child process (demo/grpc_service.py), where nothing traces the
server: the contract is about the client's exit. ``Get`` and ``Track`` answer with the trace
metadata they received."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Mapping, Optional, Type

import grpc
import grpc.aio

from demo.grpc_service import GET, MISSING, TRACK, ProcessOrders
from tests.scenarios import Scenario

_received: dict[int, Mapping[str, str]] = {}  # id(target) -> context of the last Get


def _answer(target: ProcessOrders, response: bytes) -> Any:
    document = json.loads(response)
    _received[id(target)] = document["context"]
    return document["order"]


class SyncUnary(Scenario):
    label = "grpc-sync"
    fixture = "grpc_orders"
    imports = ("grpc",)
    span_name = "rpc-client"
    error_path = ("rpc",)
    error: Type[BaseException] = grpc.RpcError

    def call(self, target: ProcessOrders) -> Any:
        _received.pop(id(target), None)
        with grpc.insecure_channel(target.target) as channel:
            return _answer(target, channel.unary_unary(GET)(b"7", timeout=10))

    def failing_call(self, target: ProcessOrders) -> Any:
        with grpc.insecure_channel(target.target) as channel:
            return channel.unary_unary(GET)(MISSING, timeout=10)

    def sent_context(self, target: ProcessOrders) -> Optional[Mapping[str, str]]:
        return _received.get(id(target), {})


class AioUnary(SyncUnary):
    label = "grpc-aio"
    imports = ("grpc.aio",)
    error = grpc.aio.AioRpcError

    def call(self, target: ProcessOrders) -> Any:
        _received.pop(id(target), None)

        async def get() -> Any:
            async with grpc.aio.insecure_channel(target.target) as channel:
                return _answer(target, await channel.unary_unary(GET)(b"7", timeout=10))

        return asyncio.run(get())

    def failing_call(self, target: ProcessOrders) -> Any:
        async def get() -> Any:
            async with grpc.aio.insecure_channel(target.target) as channel:
                return await channel.unary_unary(GET)(MISSING, timeout=10)

        return asyncio.run(get())


class SyncStream(SyncUnary):
    """A response stream: the span ends when the RPC does (grpcio's event handling)."""

    label = "grpc-sync-stream"

    def call(self, target: ProcessOrders) -> Any:
        _received.pop(id(target), None)
        with grpc.insecure_channel(target.target) as channel:
            (answer,) = list(channel.unary_stream(TRACK)(b"7", timeout=10))
            return _answer(target, answer)

    def failing_call(self, target: ProcessOrders) -> Any:
        with grpc.insecure_channel(target.target) as channel:
            return list(channel.unary_stream(TRACK)(MISSING, timeout=10))


SCENARIOS = [SyncUnary(), AioUnary(), SyncStream()]
