"""A Lambda Runtime API on loopback, for running the real ``awslambdaric`` client locally.

The demo and the tests both drive functions through it.

Serves ``/2018-06-01/runtime/invocation/next`` (long poll), ``.../{id}/response``,
``.../{id}/error`` and ``/2018-06-01/runtime/init/error`` with the headers Lambda sends
(request id, deadline, invoked ARN, trace id, client context). Every call is logged in order,
with what an optional ``observe`` callback returned at that moment, so a test can tell what the
backend had received before the runtime asked for its next invocation.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from demo.loopback import LoopbackServer, Reply, Request

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/2018-06-01/runtime"
ARN = "arn:aws:lambda:eu-central-1:123456789012:function:orders"


class Invocation:
    def __init__(
        self,
        event: Any,
        *,
        timeout_ms: int = 30_000,
        arn: str = ARN,
        client_context: Optional[Mapping[str, Any]] = None,
        request_id: Optional[str] = None,
    ) -> None:
        self.event = event
        self.timeout_ms = timeout_ms
        self.arn = arn
        self.client_context = client_context
        self.request_id = request_id or str(uuid.uuid4())
        self.deadline_ms = 0
        self.done = threading.Event()
        self.outcome: Optional[str] = None  # "response" or "error"
        self.body: Any = None
        self.error_type: Optional[str] = None


class RuntimeAPI(LoopbackServer):
    """``with RuntimeAPI() as api: api.invoke(event)`` while a runtime client polls it."""

    def __init__(self, observe: Optional[Callable[[], Any]] = None) -> None:
        self.observe = observe
        self.log: List[Dict[str, Any]] = []
        self.init_errors: List[Dict[str, Any]] = []
        self._pending: queue.Queue[Optional[Invocation]] = queue.Queue()
        self._by_id: Dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self.init_error_seen = threading.Event()
        super().__init__(self._respond)

    def __exit__(self, *exc: object) -> None:
        self._pending.put(None)
        super().__exit__(*exc)

    def submit(self, invocation: Invocation) -> Invocation:
        with self._lock:
            self._by_id[invocation.request_id] = invocation
        self._pending.put(invocation)
        return invocation

    def invoke(self, event: Any, timeout_s: float = 20.0, **kwargs: Any) -> Invocation:
        """Queue one invocation and wait until the runtime answered it."""
        invocation = self.submit(Invocation(event, **kwargs))
        if not invocation.done.wait(timeout_s):
            raise TimeoutError(f"no answer to invocation {invocation.request_id}")
        return invocation

    def _record(self, kind: str, request_id: Optional[str], **extra: Any) -> None:
        entry = {"kind": kind, "request_id": request_id, "at": time.monotonic(), **extra}
        if self.observe is not None:
            entry["observed"] = self.observe()
        with self._lock:
            self.log.append(entry)

    def _respond(self, request: Request) -> Optional[Reply]:
        if request.method == "GET":
            return self._next(request)
        if request.method == "POST":
            return self._post(request)
        return 405, b"", {}

    def _next(self, request: Request) -> Optional[Reply]:
        if request.path != f"{PREFIX}/invocation/next":
            return 404, b"", {}
        self._record("next", None)
        invocation = self._pending.get()
        if invocation is None:  # shutting down: leave the client waiting
            self._pending.put(None)
            return None
        invocation.deadline_ms = int(time.time() * 1000) + invocation.timeout_ms
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.arn,
            "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        }
        if invocation.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = json.dumps(invocation.client_context)
        return 200, json.dumps(invocation.event).encode(), headers

    def _post(self, request: Request) -> Reply:
        error_type = request.headers.get("lambda-runtime-function-error-type")
        if request.path == f"{PREFIX}/init/error":
            error = json.loads(request.body or b"{}")
            error["type_header"] = error_type
            self.init_errors.append(error)
            self._record("init_error", None)
            self.init_error_seen.set()
            return 202, b"", {}
        parts = request.path[len(PREFIX) :].strip("/").split("/")
        if len(parts) != 3 or parts[0] != "invocation":
            return 404, b"", {}
        request_id, outcome = parts[1], parts[2]
        with self._lock:
            invocation = self._by_id.get(request_id)
        if invocation is None or outcome not in ("response", "error"):
            return 400, b"", {}
        invocation.outcome = outcome
        invocation.body = json.loads(request.body) if request.body else None
        invocation.error_type = error_type
        self._record(outcome, request_id)
        invocation.done.set()
        return 202, b"", {}


def start_runtime(
    api: RuntimeAPI,
    handler: str,
    *,
    code_dir: Path,
    env: Mapping[str, str],
    output: Any = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """``python -m awslambdaric <handler>`` against ``api``, as the Lambda sandbox starts it;
    its output (stdout and stderr) goes to ``output``, a pipe unless told otherwise."""
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "orders",
        "AWS_LAMBDA_FUNCTION_VERSION": "7",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(code_dir),
        "PYTHONPATH": os.pathsep.join((str(code_dir), str(ROOT))),
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", handler],
        env=full_env,
        cwd=str(code_dir),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
