"""A Lambda Runtime API on loopback, for running the real ``awslambdaric`` client locally.

``instana-serverless run-lambda`` runs a function through it; so do the demo, the tests and the
benchmarks.

Serves ``/2018-06-01/runtime/invocation/next`` (long poll), ``.../{id}/response``,
``.../{id}/error`` and ``/2018-06-01/runtime/init/error`` with the headers Lambda sends
(request id, deadline, invoked ARN, trace id, client context), and the Extensions API
(``/2020-01-01/extension/register`` and ``.../event/next``) as Lambda runs it:

- an extension registers during init only (afterwards: 403), for ``INVOKE`` and/or
  ``SHUTDOWN``; each invocation is an ``INVOKE`` event to every extension registered for it;
- the invoke's response goes back to the caller as soon as the runtime posts it;
- the freeze: once the runtime and every registered extension are waiting in ``next`` with
  nothing to deliver, the whole sandbox (the runtime's process group, see ``start_runtime``)
  is stopped with SIGSTOP until the next invocation (SIGCONT), so work nobody waits for really
  does stop, as on Lambda;
- ``SHUTDOWN`` to the extensions registered for it when the emulator is closed.

Every call is logged in order, with what an optional ``observe`` callback returned at that
moment, so a test can tell what the backend had received before the runtime asked for its next
invocation, or before the sandbox was frozen. ``extensions=False`` serves no Extensions API, as
older emulators do.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional

from .loopback import LoopbackServer, Reply, Request, json_reply

# The folder holding the ``instana_serverless`` package: the runtime's process imports it from
# there even when it is not installed (a checkout).
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
PREFIX = "/2018-06-01/runtime"
EXTENSION_PREFIX = "/2020-01-01/extension"
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
        # Monotonic times: queued, handed to the runtime, response or error posted, sandbox
        # frozen afterwards.
        self.submitted_at = 0.0
        self.dispatched_at = 0.0
        self.answered_at = 0.0
        self.frozen_at = 0.0
        self.done = threading.Event()
        self.frozen = threading.Event()
        self.outcome: Optional[str] = None  # "response" or "error"
        self.body: Any = None
        self.error_type: Optional[str] = None


class Extension:
    """One registered extension: its name, events, and the events not yet fetched."""

    def __init__(self, name: str, events: List[str]) -> None:
        self.name = name
        self.events = events
        self.identifier = str(uuid.uuid4())
        self.queue: queue.Queue[Optional[Dict[str, Any]]] = queue.Queue()
        self.waiting = False  # blocked in event/next with nothing to deliver
        self.next_calls = 0


class RuntimeAPI(LoopbackServer):
    """``with RuntimeAPI() as api: api.invoke(event)`` while a runtime client polls it."""

    def __init__(
        self,
        observe: Optional[Callable[[], Any]] = None,
        *,
        extensions: bool = True,
        freeze: bool = True,
    ) -> None:
        self.observe = observe
        self.serves_extensions = extensions
        self.freezes = freeze
        self.log: List[Dict[str, Any]] = []
        self.init_errors: List[Dict[str, Any]] = []
        self.extensions: List[Extension] = []
        self.freezes_done = 0
        self._pending: Deque[Invocation] = collections.deque()
        self._by_id: Dict[str, Invocation] = {}
        self._lock = threading.Condition()
        self._runtime_waiting = False
        self._init_done = False
        self._sandbox: Optional[int] = None  # process group to freeze
        self._frozen = False
        self._last: Optional[Invocation] = None
        self._closing = False
        self.init_error_seen = threading.Event()
        super().__init__(self._respond)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closing = True
            self._thaw()
            for extension in self.extensions:
                if "SHUTDOWN" in extension.events:
                    extension.queue.put(
                        {"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 0}
                    )
                extension.queue.put(None)
            self._lock.notify_all()
        super().__exit__(*exc)

    # -- the sandbox --------------------------------------------------------------------------

    def adopt_sandbox(self, pgid: int) -> None:
        """Freeze process group ``pgid`` between invocations (``start_runtime`` calls this)."""
        with self._lock:
            self._sandbox = pgid

    def release_sandbox(self) -> None:
        """Thaw the sandbox and never freeze it again (it is being stopped)."""
        with self._lock:
            self._thaw()
            self._sandbox = None

    @property
    def frozen(self) -> bool:
        return self._frozen

    def _signal_sandbox(self, signum: int) -> bool:
        if self._sandbox is None:
            return False
        try:
            os.killpg(self._sandbox, signum)
        except (ProcessLookupError, PermissionError):
            self._sandbox = None
            return False
        return True

    def _thaw(self) -> None:
        if self._frozen:
            self._frozen = False
            self._signal_sandbox(signal.SIGCONT)

    def _maybe_freeze(self) -> None:
        """With the lock held: everyone waits and nothing is queued, so Lambda would freeze."""
        if (
            not self.freezes
            or self._frozen
            or self._closing
            or not self._runtime_waiting
            or self._pending
            or not all(e.waiting for e in self.extensions)
        ):
            return
        if self._signal_sandbox(signal.SIGSTOP):
            self._frozen = True
            self.freezes_done += 1
            self._record("freeze", self._last.request_id if self._last else None)
            if self._last is not None:
                self._last.frozen_at = time.monotonic()
                self._last.frozen.set()

    # -- invoking -----------------------------------------------------------------------------

    def submit(self, invocation: Invocation) -> Invocation:
        with self._lock:
            invocation.submitted_at = time.monotonic()
            self._by_id[invocation.request_id] = invocation
            self._thaw()
            self._pending.append(invocation)
            self._lock.notify_all()
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
        self.log.append(entry)

    def _respond(self, request: Request) -> Optional[Reply]:
        if request.path.startswith(EXTENSION_PREFIX):
            if not self.serves_extensions:
                return 404, b"", {}
            return self._extension_call(request)
        if request.method == "GET":
            return self._next(request)
        if request.method == "POST":
            return self._post(request)
        return 405, b"", {}

    def _next(self, request: Request) -> Optional[Reply]:
        if request.path != f"{PREFIX}/invocation/next":
            return 404, b"", {}
        with self._lock:
            self._init_done = True
            self._record("next", None)
            self._runtime_waiting = True
            self._maybe_freeze()
            # As on Lambda, the next invocation starts only once every extension is done with
            # the previous one (waits in its own ``next``).
            self._lock.wait_for(
                lambda: (
                    self._closing
                    or (bool(self._pending) and all(e.waiting for e in self.extensions))
                )
            )
            if self._closing:  # shutting down: leave the client waiting
                return None
            invocation = self._last = self._pending.popleft()
            invocation.deadline_ms = int(time.time() * 1000) + invocation.timeout_ms
            invocation.dispatched_at = time.monotonic()
            self._runtime_waiting = False
            # The extensions hear of the invocation when it starts.
            for extension in self.extensions:
                if "INVOKE" in extension.events:
                    extension.waiting = False
                    extension.queue.put(_invoke_event(invocation))
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
            with self._lock:
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
        invocation.answered_at = time.monotonic()
        with self._lock:
            self._record(outcome, request_id)
        # The caller has its answer now, whatever the extensions still do.
        invocation.done.set()
        return 202, b"", {}

    # -- the Extensions API -------------------------------------------------------------------

    def _extension_call(self, request: Request) -> Optional[Reply]:
        path = request.path[len(EXTENSION_PREFIX) :]
        if path == "/register" and request.method == "POST":
            return self._register(request)
        if path == "/event/next" and request.method == "GET":
            return self._event_next(request)
        return 404, b"", {}

    def _register(self, request: Request) -> Reply:
        name = request.headers.get("lambda-extension-name")
        try:
            events = json.loads(request.body or b"{}").get("events")
        except ValueError:
            events = None
        if not name or not isinstance(events, list) or not events:
            return _error(400, "Extension.InvalidRequest", "name and events are required")
        unknown = [e for e in events if e not in ("INVOKE", "SHUTDOWN")]
        if unknown:
            return _error(400, "Extension.InvalidEventType", f"unknown events {unknown}")
        with self._lock:
            if self._init_done:
                return _error(403, "Extension.InvalidState", "registration after init")
            extension = Extension(name, list(events))
            self.extensions.append(extension)
            self._record("register", None, extension=name)
        body = {"functionName": "orders", "functionVersion": "$LATEST", "handler": "handler"}
        return json_reply(200, body, {"Lambda-Extension-Identifier": extension.identifier})

    def _event_next(self, request: Request) -> Optional[Reply]:
        identifier = request.headers.get("lambda-extension-identifier")
        with self._lock:
            extension = next((e for e in self.extensions if e.identifier == identifier), None)
            if extension is None:
                return _error(403, "Extension.UnknownExtensionIdentifier", "not registered")
            extension.next_calls += 1
            self._record("extension_next", None, extension=extension.name)
            if extension.queue.empty():
                extension.waiting = True
                self._lock.notify_all()
                self._maybe_freeze()
        event = extension.queue.get()
        if event is None:  # shutting down: leave it waiting
            return None
        return json_reply(200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})


def _invoke_event(invocation: Invocation) -> Dict[str, Any]:
    return {
        "eventType": "INVOKE",
        "deadlineMs": invocation.deadline_ms,
        "requestId": invocation.request_id,
        "invokedFunctionArn": invocation.arn,
        "tracing": {
            "type": "X-Amzn-Trace-Id",
            "value": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        },
    }


def _error(status: int, error_type: str, message: str) -> Reply:
    return json_reply(status, {"errorType": error_type, "errorMessage": message})


class Sandbox(subprocess.Popen):  # type: ignore[type-arg]
    """The runtime process, leading its own process group: the sandbox the emulator freezes.
    Any signal sent to it first thaws it for good, so a frozen sandbox can still be stopped."""

    api: Optional[RuntimeAPI] = None

    def send_signal(self, sig: int) -> None:
        if self.api is not None:
            self.api.release_sandbox()
        super().send_signal(sig)


def start_runtime(
    api: RuntimeAPI,
    handler: str,
    *,
    code_dir: Path,
    env: Mapping[str, str],
    output: Any = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """``python -m awslambdaric <handler>`` against ``api``, as the Lambda sandbox starts it;
    its output (stdout and stderr) goes to ``output``, a pipe unless told otherwise. It leads
    a process group of its own, which ``api`` freezes between invocations."""
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
        "PYTHONPATH": os.pathsep.join((str(code_dir), str(PACKAGE_PARENT))),
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    proc = Sandbox(
        [sys.executable, "-m", "awslambdaric", handler],
        env=full_env,
        cwd=str(code_dir),
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    proc.api = api
    api.adopt_sandbox(proc.pid)
    return proc
