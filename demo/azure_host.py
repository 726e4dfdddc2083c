"""The Azure Functions host's part, for the demo and the tests: it starts a Python language
worker process for one function app (``demo/azure_language_worker.py``, in the Python 3.13
environment ``make`` creates as ``.venv313``, where Microsoft's library worker
``azure-functions-runtime`` runs) and drives it with FunctionRpc ``StreamingMessage``s as the
host does: ``worker_init_request`` (the worker indexes the app), ``functions_metadata_request``,
one ``function_load_request`` per function, then ``invocation_request``s carrying the trigger's
``TypedData``, its trigger metadata and the host's ``RpcTraceContext``.

Messages travel as protobuf's JSON mapping, one a line, over the worker's stdin/stdout; this
module needs no protobuf and runs in any Python. One process serves one app (the library
worker keeps global state, as on Azure).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, Dict, List, Mapping, Optional, Union

ROOT = Path(__file__).resolve().parent.parent
VENV313 = ROOT / ".venv313"
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
HOST_VERSION = "4.1041.200"


def worker_python() -> Optional[Path]:
    """The Python of the environment the library worker runs in, if ``make`` created it."""
    python = VENV313 / "bin" / "python"
    return python if python.exists() else None


def machine_python313() -> Optional[str]:
    """The machine's Python 3.13 (pyenv's where present), which ``.venv313`` is made from."""
    roots = [os.environ.get("PYENV_ROOT") or "", str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        versions = Path(root) / "versions"
        for candidate in sorted(versions.glob("3.13*/bin/python3.13"), reverse=True):
            if candidate.exists():
                return str(candidate)
    found = shutil.which("python3.13")
    if found is None:
        return None
    # A pyenv shim exists even when no 3.13 is installed: it must actually run.
    try:
        ok = subprocess.run([found, "-c", ""], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return found if ok else None


# -- TypedData, as the host sends it ----------------------------------------------------------


def string(value: str) -> Dict[str, Any]:
    return {"string": value}


def json_data(value: Any) -> Dict[str, Any]:
    return {"json": json.dumps(value)}


def strings(values: List[str]) -> Dict[str, Any]:
    """A batch (cardinality "many") of string messages."""
    return {"collection_string": {"string": list(values)}}


def bytes_data(value: bytes) -> Dict[str, Any]:
    return {"bytes": base64.b64encode(value).decode("ascii")}


def http(
    method: str,
    url: str,
    *,
    headers: Optional[Mapping[str, str]] = None,
    query: Optional[Mapping[str, str]] = None,
    params: Optional[Mapping[str, str]] = None,
    body: bytes = b"",
) -> Dict[str, Any]:
    """An HTTP trigger's request; ``params`` are the route parameters."""
    return {
        "http": {
            "method": method,
            "url": url,
            "headers": dict(headers or {}),
            "query": dict(query or {}),
            "params": dict(params or {}),
            "body": bytes_data(body),
        }
    }


def value_of(typed: Optional[Mapping[str, Any]]) -> Any:
    """A TypedData from the worker as a Python value (HTTP: the RpcHttp as a dict)."""
    if not typed:
        return None
    ((kind, value),) = typed.items()
    if kind in ("bytes", "stream"):
        return base64.b64decode(value)
    if kind == "json":
        return json.loads(value)
    if kind == "collection_string":
        return list(value.get("string") or [])
    if kind == "int":
        return int(value)
    if kind == "http":
        response = dict(value)
        response["body"] = value_of(value.get("body"))
        return response
    return value


class Invocation:
    """The worker's ``InvocationResponse``."""

    def __init__(self, response: Mapping[str, Any]) -> None:
        self.response = response
        result = response.get("result") or {}
        self.status: str = result.get("status", "Failure")  # Failure is the zero value
        self.exception: Mapping[str, Any] = result.get("exception") or {}
        self.return_value = value_of(response.get("return_value"))
        self.outputs = {
            binding["name"]: value_of(binding.get("data"))
            for binding in response.get("output_data") or []
        }

    @property
    def ok(self) -> bool:
        return self.status == "Success"

    def output_json(self, name: str) -> Any:
        return json.loads(self.outputs[name])


class WorkerError(RuntimeError):
    """The language worker process failed or answered with a failure."""


class FunctionsHost:
    """One function app in its own language worker process."""

    def __init__(
        self,
        app_dir: Union[str, Path],
        env: Mapping[str, str],
        *,
        python: Optional[Path] = None,
        stderr: Optional[IO[Any]] = None,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.env = dict(env)
        self.python = python or worker_python()
        self.stderr = stderr
        self.proc: Optional[subprocess.Popen[str]] = None
        self.functions: Dict[str, Dict[str, Any]] = {}
        self.worker_metadata: Dict[str, Any] = {}
        self._ids = itertools.count(1)

    def start(self) -> Dict[str, Dict[str, Any]]:
        """Start the worker, have it index the app and load every function; returns each
        function's ``RpcFunctionMetadata`` by name."""
        if self.python is None:
            raise WorkerError("no Python 3.13 environment (.venv313): run make")
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [str(self.python), "-m", "demo.azure_language_worker"],
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        init = self.request(
            {
                "worker_init_request": {
                    "host_version": HOST_VERSION,
                    "function_app_directory": str(self.app_dir),
                    "worker_directory": str(self.app_dir),
                }
            },
            timeout=START_TIMEOUT_S,
        )["worker_init_response"]
        self._check(init, "worker_init_request")
        self.worker_metadata = dict(init.get("worker_metadata") or {})
        metadata = self.request(
            {"functions_metadata_request": {"function_app_directory": str(self.app_dir)}}
        )["function_metadata_response"]
        self._check(metadata, "functions_metadata_request")
        for function in metadata.get("function_metadata_results") or []:
            loaded = self.request(
                {
                    "function_load_request": {
                        "function_id": function["function_id"],
                        "metadata": function,
                    }
                }
            )["function_load_response"]
            self._check(loaded, f"function_load_request {function['name']}")
            self.functions[function["name"]] = function
        return self.functions

    @staticmethod
    def _check(response: Mapping[str, Any], what: str) -> None:
        result = response.get("result") or {}
        if result.get("status") != "Success":
            message = (result.get("exception") or {}).get("message", "")
            raise WorkerError(f"{what} failed: {message}")

    def describe(self) -> str:
        """Which worker runs the app, from its ``WorkerInitResponse``."""
        meta = self.worker_metadata
        return (
            f"azure-functions-runtime {meta.get('worker_version', '?')} (Microsoft's library "
            f"worker) on Python {meta.get('runtime_version', '?')}"
        )

    def request(self, content: Mapping[str, Any], timeout: float = REQUEST_TIMEOUT_S) -> Any:
        """Send one ``StreamingMessage`` and return the worker's answer to it."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise WorkerError("the language worker is not running")
        message = {"request_id": f"req-{next(self._ids)}", **content}
        # A hung worker must not hang the host: it is killed after ``timeout``.
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
        except OSError as exc:
            raise WorkerError(f"the language worker is gone: {exc}") from exc
        finally:
            watchdog.cancel()
        if not line:
            raise WorkerError(f"the language worker exited ({proc.poll()})")
        return json.loads(line)

    def invoke(
        self,
        function: str,
        inputs: Mapping[str, Mapping[str, Any]],
        *,
        trigger_metadata: Optional[Mapping[str, Mapping[str, Any]]] = None,
        trace_parent: str = "",
        trace_state: str = "",
        invocation_id: Optional[str] = None,
    ) -> Invocation:
        """Invoke ``function`` with ``inputs`` (binding name → TypedData)."""
        number = next(self._ids)
        request = {
            "invocation_request": {
                "invocation_id": invocation_id or f"5f1c1a9e-0000-4000-8000-{number:012d}",
                "function_id": self.functions[function]["function_id"],
                "input_data": [{"name": name, "data": data} for name, data in inputs.items()],
                "trigger_metadata": dict(trigger_metadata or {}),
                "trace_context": {"trace_parent": trace_parent, "trace_state": trace_state},
                "retry_context": {"retry_count": 0, "max_retry_count": 0},
            }
        }
        return Invocation(self.request(request)["invocation_response"])

    def close(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # end of the message stream: the worker exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> FunctionsHost:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def triggers_of(function: Mapping[str, Any]) -> List[str]:
    """The trigger binding types in a function's metadata."""
    return [
        binding["type"]
        for binding in (function.get("bindings") or {}).values()
        if binding.get("type", "").endswith("Trigger")
    ]


if __name__ == "__main__":  # pragma: no cover - a quick look at what the worker indexed
    with FunctionsHost(sys.argv[1], os.environ) as host:
        for name, function in host.functions.items():
            print(name, triggers_of(function))
