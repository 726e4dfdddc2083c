"""``python -m demo.azure_worker``: an emulation of the Azure Functions Python worker's part,
for the sample app ``azure/function_app.py``, in a process of its own as on Azure.

Microsoft's library worker (``azure-functions-runtime``, driven by ``demo.azure_host``) runs
only on Python 3.13 and later: this emulation stands in for it where no Python 3.13 is at
hand, and the emulated tests (tests/test_azure_*.py) call functions the same way.

The app is imported from the script root as the worker imports it, its functions are collected
from the real ``azure.functions`` FunctionApp, and each is called with keyword arguments by
binding name, as the worker calls them: a real ``func.HttpRequest`` and ``func.QueueMessage``,
an ``Out`` per output binding, and a ``Context`` carrying the trace context the Functions host
passes along (W3C ``traceparent`` of the host's activity).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
import threading
from typing import Any, Dict, Optional

import azure.functions as func
from azure.functions import _abc as azf_abc
from azure.functions.decorators.core import BindingDirection

from demo.azure_functions import CLIENT_TRACEPARENT, HOST_TRACEPARENT, SCRIPT_ROOT, SITE
from demo.harness import progress


class WorkerTraceContext(azf_abc.TraceContext):
    """What the worker builds from the host's ``RpcTraceContext``."""

    def __init__(self, trace_parent: str = "", trace_state: str = "") -> None:
        self._parent = trace_parent
        self._state = trace_state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> Dict[str, str]:
        return {}


class WorkerContext(azf_abc.Context):
    """A concrete ``azure.functions.Context``, as the worker hands to functions."""

    def __init__(
        self,
        function_name: str,
        invocation_id: str = "5f1c1a9e-0000-4000-8000-000000000001",
        trace_parent: str = "",
        trace_state: str = "",
        function_directory: str = "/home/site/wwwroot",
    ) -> None:
        self._name = function_name
        self._id = invocation_id
        self._trace = WorkerTraceContext(trace_parent, trace_state)
        self._directory = function_directory

    @property
    def invocation_id(self) -> str:
        return self._id

    @property
    def thread_local_storage(self) -> Any:
        return threading.local

    @property
    def function_name(self) -> str:
        return self._name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> azf_abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> Any:
        return None


class Out(func.Out[Any]):
    """An output binding: the function sets it, the worker reads it after the call."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


def call(
    function: func.Function, trigger_value: Any, context: Optional[WorkerContext] = None
) -> tuple[Any, Dict[str, Out]]:
    """(result, output bindings) of one invocation, the arguments filled in by binding name;
    ``context`` only reaches functions that declare it, as with the worker."""
    user_function = function.get_user_function()
    trigger = function.get_trigger()
    outs: Dict[str, Out] = {}
    kwargs: Dict[str, Any] = {}
    for binding in function.get_bindings():
        if binding.name == "$return":
            continue
        if binding.direction == BindingDirection.OUT.value:
            kwargs[binding.name] = outs[binding.name] = Out()
        elif trigger is not None and binding.name == trigger.name:
            kwargs[binding.name] = trigger_value
    if context is not None and "context" in inspect.signature(user_function).parameters:
        kwargs["context"] = context
    result = user_function(**kwargs)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return result, outs


def main() -> int:
    sys.path.insert(0, str(SCRIPT_ROOT))
    app = importlib.import_module("function_app").app  # as the worker imports the app
    functions = {f.get_function_name(): f for f in app.get_functions()}
    progress(f"Azure: worker indexed {', '.join(sorted(functions))}")

    progress("Azure: invoking create_order (HTTP POST /api/orders?item=tea)…")
    request = func.HttpRequest(
        "POST",
        f"{SITE}/api/orders?item=tea",
        headers={"traceparent": CLIENT_TRACEPARENT, "content-length": "0"},
        params={"item": "tea"},
        body=b"",
    )
    context = WorkerContext(
        "create_order",
        "9c1f6a52-0000-4000-8000-000000000001",
        HOST_TRACEPARENT,
        function_directory=str(SCRIPT_ROOT),
    )
    response, outs = call(functions["create_order"], request, context)
    queued: Optional[str] = outs["outbox"].get()
    progress(f"Azure: create_order answered {response.status_code}, queued {queued}")
    if response.status_code != 201 or queued is None:
        return 1

    # A storage-queue message carries no trace context, and process_order takes no context:
    # its invocation starts a trace of its own.
    progress("Azure: invoking process_order (storage queue message)…")
    message = func.QueueMessage(id="q-0001", body=queued, pop_receipt="AgAAAAMAAAAAAAAA")
    call(functions["process_order"], message)
    progress(f"Azure: process_order handled order {json.loads(queued)['item']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
