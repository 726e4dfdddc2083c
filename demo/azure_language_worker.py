"""``python -m demo.azure_language_worker``: the Python language worker process of an Azure
function app, with Microsoft's library worker ``azure-functions-runtime`` (Python 3.13 and
later) doing the indexing, the binding conversions and the calls.

On Azure the Functions host talks FunctionRpc (protobuf over gRPC) to a proxy worker, which
hands each ``StreamingMessage`` to the library worker's ``handle_event`` functions, with the
host address and the protobuf message classes in the request's ``properties``. Here the host
is ``demo/azure_host.py``: it sends the same ``StreamingMessage``s as one JSON document a line
(protobuf's JSON mapping) on stdin and reads the answers likewise from stdout; the messages
are our own definitions (``demo/function_rpc.proto``), compiled with grpcio-tools at start.

Everything else the process writes (the user's ``print``, logging) goes to stderr, so it
cannot corrupt the message stream. The library worker keeps its registry in module globals:
one process serves one function app, as on Azure.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, TextIO, Tuple

PROTO = Path(__file__).resolve().with_name("function_rpc.proto")
HOST_ADDRESS = "127.0.0.1"  # only used by the library worker for HTTP streaming (not enabled)


@dataclass
class WorkerRequest:
    """What the proxy worker hands to the library worker: the message and its properties."""

    name: str
    request: Any
    properties: Dict[str, Any] = field(default_factory=dict)


def compile_protos(out_dir: str) -> ModuleType:
    """Our FunctionRpc messages, compiled by grpcio-tools' protoc into ``out_dir``."""
    import grpc_tools
    from grpc_tools import protoc

    includes = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    status = protoc.main(
        [
            "protoc",
            f"-I{PROTO.parent}",
            f"-I{includes}",
            f"--python_out={out_dir}",
            PROTO.name,
        ]
    )
    if status != 0:
        raise RuntimeError(f"protoc failed on {PROTO} ({status})")
    sys.path.insert(0, out_dir)
    try:
        return importlib.import_module(PROTO.stem + "_pb2")
    finally:
        sys.path.remove(out_dir)


# Host request → (the library worker's handler, the answer's field in StreamingMessage).
HANDLERS: Dict[str, Tuple[str, str]] = {
    "worker_init_request": ("worker_init_request", "worker_init_response"),
    "functions_metadata_request": ("functions_metadata_request", "function_metadata_response"),
    "function_load_request": ("function_load_request", "function_load_response"),
    "invocation_request": ("invocation_request", "invocation_response"),
}


class LanguageWorker:
    """Dispatches each host message to the library worker, like the proxy worker does."""

    def __init__(self, protos: ModuleType) -> None:
        import azure_functions_runtime

        self.protos = protos
        self.library = azure_functions_runtime
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

    def handle(self, message: Any) -> Any:
        content = message.WhichOneof("content")
        if content not in HANDLERS:
            raise ValueError(f"not a host request: {content!r}")
        handler_name, response_field = HANDLERS[content]
        properties: Dict[str, Any] = {}
        if content == "worker_init_request":
            directory = message.worker_init_request.function_app_directory
            # The app's folder is the script root: its modules import from there.
            if directory not in sys.path:
                sys.path.insert(0, directory)
            os.chdir(directory)
            self.library.start_threadpool_executor()
            properties = {"protos": self.protos, "host": HOST_ADDRESS}
        request = WorkerRequest(handler_name, message, properties)
        response = self.loop.run_until_complete(getattr(self.library, handler_name)(request))
        return self.protos.StreamingMessage(
            request_id=message.request_id, **{response_field: response}
        )


def serve(worker: LanguageWorker, lines: TextIO, channel: TextIO) -> None:
    from google.protobuf import json_format

    for line in lines:
        if not line.strip():
            continue
        message = json_format.Parse(line, worker.protos.StreamingMessage())
        response = worker.handle(message)
        channel.write(
            json_format.MessageToJson(response, preserving_proto_field_name=True, indent=None)
            + "\n"
        )
        channel.flush()


def main() -> int:
    # The message channel is the original stdout; fd 1 (and sys.stdout) now go to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with tempfile.TemporaryDirectory(prefix="function-rpc-") as out_dir:
        worker = LanguageWorker(compile_protos(out_dir))
        try:
            serve(worker, sys.stdin, channel)
        finally:
            worker.library.stop_threadpool_executor()
    return 0


if __name__ == "__main__":
    sys.exit(main())
