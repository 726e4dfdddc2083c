"""How the Azure Functions Python worker indexes and calls v2-model functions, for the tests
that run in the test suite's own Python.

Microsoft's library worker (azure-functions-runtime) runs on Python 3.13+ only; where it can,
tests/test_azure_runtime.py runs the apps through it. For the tests in any other Python its
indexing checks are restated here from its ``Registry.add_indexed_function``: the
``FunctionApp`` and its ``Function``/binding objects, the annotation checks and the trigger
converters are the real ``azure.functions`` ones. The ``Context`` handed to functions is a
concrete subclass of the library's abstract ``azure.functions.Context``, as the worker's is.
The tests at the bottom show the restated checks do reject what the worker rejects.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

import azure.functions as func
import pytest
from azure.functions import meta
from azure.functions._thirdparty import typing_inspect

from demo.azure_worker import Out, WorkerContext

_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="azure-worker-sync")


class IndexError_(Exception):
    """FunctionLoadError of the worker."""


def info_name(function: func.Function) -> str:
    return str(function.get_user_function().__name__)


class Indexed:
    def __init__(self, function: func.Function) -> None:
        self.function = function
        self.func = function.get_user_function()
        self.name: str = function.get_function_name() or info_name(function)
        trigger = function.get_trigger()
        assert trigger is not None
        self.trigger_param: str = trigger.name
        self.trigger_type: str = trigger.type
        self.requires_context = False
        self.is_async = False
        self.has_return = False
        self.out_params: Dict[str, Any] = {}


def _is_out(anno: Any) -> bool:
    origin = typing_inspect.get_origin(anno) if typing_inspect.is_generic_type(anno) else None
    target = origin if origin is not None else anno
    return isinstance(target, type) and target.__name__ == "Out"


def index_function(function: func.Function) -> Indexed:
    """The worker's checks on one function; raises IndexError_ where the worker would."""
    info = Indexed(function)
    fn = info.func
    params = dict(inspect.signature(fn).parameters)
    annotations = typing.get_type_hints(fn)
    bound: Dict[str, Any] = {}
    for binding in function.get_bindings():
        if binding.name == "$return":
            info.has_return = True
        else:
            bound[binding.name] = binding
    if "context" in params and "context" not in bound:
        info.requires_context = True
        params.pop("context")
        anno = annotations.get("context")
        if anno is not None and (not isinstance(anno, type) or anno.__name__ != "Context"):
            raise IndexError_(f"{info.name}: context annotated {anno!r}")
    if set(params) != set(bound):
        raise IndexError_(f"{info.name}: parameters {set(params)} != bindings {set(bound)}")
    for name in params:
        binding = bound[name]
        anno = annotations.get(name)
        is_binding_out = binding.direction == func.decorators.core.BindingDirection.OUT.value
        if anno is None:
            continue
        if _is_out(anno):
            if not is_binding_out:
                raise IndexError_(f"{info.name}: {name} is Out but the binding is in")
            pytype = typing_inspect.get_args(anno)[0]
            converter = meta.get_binding_registry().get(binding.type)
            # str and bytes go through the worker's own "generic" binding, which takes them.
            if pytype not in (str, bytes) and (
                converter is None or not converter.check_output_type_annotation(pytype)
            ):
                raise IndexError_(f"{info.name}: {name} annotation {pytype!r}")
            info.out_params[name] = pytype
            continue
        if is_binding_out:
            raise IndexError_(f"{info.name}: {name} is an out binding without Out[...]")
        converter = meta.get_binding_registry().get(binding.type)
        if anno not in (str, bytes) and (
            converter is None or not converter.check_input_type_annotation(anno)
        ):
            raise IndexError_(f"{info.name}: {name} does not accept {anno!r}")
    info.is_async = inspect.iscoroutinefunction(fn)
    return info


def index_app(app: func.FunctionApp) -> Dict[str, Indexed]:
    return {info.name: info for info in map(index_function, app.get_functions())}


def invoke(
    info: Indexed,
    trigger_value: Any,
    *,
    context: Optional[WorkerContext] = None,
    outs: Optional[Dict[str, Out]] = None,
) -> Any:
    """Call like the worker: keyword arguments by binding name, ``context`` only when
    declared, coroutines awaited on an event loop, plain functions on a thread pool."""
    kwargs: Dict[str, Any] = {info.trigger_param: trigger_value}
    for name in info.out_params:
        kwargs[name] = (outs if outs is not None else {}).setdefault(name, Out())
    if info.requires_context:
        kwargs["context"] = context or WorkerContext(info.name)
    if info.is_async:
        return asyncio.run(info.func(**kwargs))
    return _EXECUTOR.submit(info.func, **kwargs).result()


def http_request(
    method: str = "GET",
    url: str = "https://myapp.azurewebsites.net/api/orders",
    *,
    headers: Optional[Dict[str, str]] = None,
    params: Optional[Dict[str, str]] = None,
    route_params: Optional[Dict[str, str]] = None,
    body: bytes = b"",
) -> func.HttpRequest:
    return func.HttpRequest(
        method, url, headers=headers, params=params, route_params=route_params, body=body
    )


def service_bus_message(
    body: str, application_properties: Dict[str, Any], message_id: str = "m-1"
) -> Any:
    """A Service Bus message decoded from host metadata by the library's own converter."""
    from azure.functions.servicebus import ServiceBusMessageInConverter

    metadata = {
        "ApplicationProperties": meta.Datum(json.dumps(application_properties), "json"),
        "UserProperties": meta.Datum("{}", "json"),
        "MessageId": meta.Datum(message_id, "string"),
        "DeliveryCount": meta.Datum(1, "int"),
    }
    return ServiceBusMessageInConverter.decode(
        meta.Datum(body, "string"), trigger_metadata=metadata
    )


def queue_message(body: str, message_id: str = "q-1") -> Any:
    from azure.functions.queue import QueueMessageInConverter

    metadata = {
        "Id": meta.Datum(message_id, "string"),
        "DequeueCount": meta.Datum(1, "int"),
        "PopReceipt": meta.Datum("pop", "string"),
    }
    return QueueMessageInConverter.decode(meta.Datum(body, "string"), trigger_metadata=metadata)


def timer_request(past_due: bool = False) -> Any:
    from azure.functions.timer import TimerRequestConverter

    return TimerRequestConverter.decode(
        meta.Datum(json.dumps({"IsPastDue": past_due}), "json"), trigger_metadata={}
    )


# -- the restated checks reject what the worker rejects ---------------------------------


def _naive(fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


def test_index_rejects_a_wrapper_that_hides_the_signature() -> None:
    app = func.FunctionApp()

    @app.route(route="x")
    @_naive
    def hidden(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("x")

    with pytest.raises(IndexError_):
        index_app(app)


def test_index_rejects_a_wrong_annotation_and_reports_async() -> None:
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="C")
    def wrong(msg: func.HttpRequest) -> None:
        pass

    with pytest.raises(IndexError_):
        index_app(app)

    app2 = func.FunctionApp()

    @app2.timer_trigger(arg_name="timer", schedule="0 * * * * *")
    async def tick(timer: func.TimerRequest, context: func.Context) -> None:
        pass

    info = index_app(app2)["tick"]
    assert info.is_async and info.requires_context


def test_invoke_passes_context_only_when_declared() -> None:
    app = func.FunctionApp()
    seen: Dict[str, Any] = {}

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="C")
    def no_context(msg: func.QueueMessage) -> None:
        seen["body"] = msg.get_body()

    info = index_app(app)["no_context"]
    assert not info.requires_context
    invoke(info, queue_message("hello"))
    assert seen["body"] == b"hello"
