"""AWS Lambda calling a gRPC service: ``order-status`` on the real runtime client calls the
``demo.Orders`` service (demo/grpc_service.py) on grpcio's own server, in a process of its own
that traces itself with ``instana_serverless.instrument()``, as a gRPC service on Cloud Run or
Fargate would. One trace: the Lambda entry, its two ``rpc-client`` exits (a unary call and a
response stream) and the service's two ``rpc-server`` entries continuing them.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Any, Dict, List

from demo.aws_events import api_gateway_request
from demo.harness import ROOT, Harness, progress
from demo.servers import HOST, _wait, free_port

STATUS = "order-status"
SERVICE = "order-service"


def _start_service(harness: Harness, stack: contextlib.ExitStack) -> str:
    import grpc

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo.grpc_service", str(port), "--traced"],
        cwd=str(ROOT),
        env=harness.env(),
        stdin=subprocess.DEVNULL,
        stdout=harness.log_file(SERVICE),
        stderr=subprocess.STDOUT,
        text=True,
    )
    harness.adopt(SERVICE, proc)
    stack.callback(harness.stop, [proc])

    class Running:
        name = SERVICE

        def check_running(self) -> None:
            if proc.poll() is not None:
                raise RuntimeError(f"{SERVICE} exited; its log:\n{harness.log_tail(SERVICE)}")

        def log_tail(self) -> str:
            return harness.log_tail(SERVICE)

    def ready() -> bool:
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=0.5)
            except grpc.FutureTimeoutError:
                return False
            return True

    _wait(SERVICE, ready, [Running()], 30.0)  # type: ignore[list-item]
    return f"{HOST}:{port}"


def one_trace(spans: List[Dict[str, Any]]) -> str:
    """The trace of ``order-status``: raises unless both calls are rpc-client exits of its
    entry and each is continued by an rpc-server entry of the service."""
    entries = [
        s
        for s in spans
        if s.get("n") == "aws.lambda.entry"
        and ((s.get("data") or {}).get("lambda") or {}).get("functionName") == STATUS
    ]
    if len(entries) != 1:
        raise RuntimeError(f"expected one {STATUS} entry span, got {len(entries)}")
    entry = entries[0]
    calls = {s["s"]: s for s in spans if s.get("n") == "rpc-client" and s.get("p") == entry["s"]}
    served = [s for s in spans if s.get("n") == "rpc-server" and s.get("p") in calls]
    if len(calls) != 2 or len(served) != 2 or {s["t"] for s in served} != {entry["t"]}:
        raise RuntimeError(
            f"expected 2 rpc-client exits of {STATUS} continued by 2 rpc-server entries in "
            f"one trace; got {len(calls)} exits and {len(served)} entries"
        )
    return str(entry["t"])


def order_status(harness: Harness, stack: contextlib.ExitStack) -> None:
    from demo.aws_lambda import REGION, _deploy

    before = len(harness.acceptor.spans())
    progress(f"Lambda: starting the gRPC {SERVICE} (grpcio server, traced) for {STATUS}…")
    target = _start_service(harness, stack)
    function = _deploy(
        harness, stack, STATUS, "status.order_status", {"ORDERS_GRPC_TARGET": target}
    )
    progress(f"Lambda: invoking {STATUS} via awslambdaric (API Gateway GET /orders/7)…")
    response = function.invoke(harness, api_gateway_request("GET", "/orders/7", None, REGION))
    progress(f"Lambda: {STATUS} answered {response['statusCode']} {response['body']}")
    if response["statusCode"] != 200:
        raise RuntimeError(f"{STATUS} failed")
    harness.acceptor.wait_for_spans(before + 5, timeout=10)
    trace = one_trace(harness.acceptor.spans()[before:])
    progress(f"Lambda: {STATUS} and the gRPC {SERVICE} are one trace, {trace}")
