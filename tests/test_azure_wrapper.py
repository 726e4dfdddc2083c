"""``@azure_function`` with the real azure.functions FunctionApp, indexed and called the way
the worker does it, reporting to the local acceptor over loopback HTTP."""

from __future__ import annotations

import inspect
import typing
from typing import Any, Dict, Iterator, List

import azure.functions as func
import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.azure import azure_function, triggers
from instana_serverless.client import Client
from tests.conftest import AGENT_KEY
from tests.test_azure_support import (
    WorkerContext,
    http_request,
    index_app,
    invoke,
    queue_message,
    service_bus_message,
    timer_request,
)

ENTITY = "/subscriptions/sub-123/resourceGroups/rg-prod/providers/Microsoft.Web/sites/orders-app"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(autouse=True)
def azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_OWNER_NAME", "sub-123+rg-prod-WestEuropewebspace")
    monkeypatch.setenv("WEBSITE_RESOURCE_GROUP", "rg-prod")
    monkeypatch.setenv("WEBSITE_SITE_NAME", "orders-app")


def one_span(acceptor: Acceptor) -> Dict[str, Any]:
    # The flush happened before the function returned: no waiting.
    spans = acceptor.spans()
    assert len(spans) == 1, spans
    return spans[0]


# -- what the worker sees -----------------------------------------------------------------


def _functions() -> Dict[str, Any]:
    def sync_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse("ok")

    async def async_http(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("ok")

    def with_out(req: func.HttpRequest, out: func.Out[str]) -> str:
        return "ok"

    return {"sync_http": sync_http, "async_http": async_http, "with_out": with_out}


@pytest.mark.parametrize("name", ["sync_http", "async_http", "with_out"])
def test_wrapper_keeps_signature_hints_and_coroutine_check(name: str) -> None:
    original = _functions()[name]
    wrapped = azure_function(original)
    assert wrapped is not original
    assert inspect.signature(wrapped) == inspect.signature(original)
    assert inspect.iscoroutinefunction(wrapped) == inspect.iscoroutinefunction(original)
    assert typing.get_type_hints(wrapped) == typing.get_type_hints(original)
    assert wrapped.__name__ == original.__name__
    # The worker takes context.function_directory from the file of the function's code.
    assert inspect.getfile(wrapped) == inspect.getfile(original) == __file__


def test_a_traceback_through_the_wrapper_points_at_the_users_function(
    client: Client, acceptor: Acceptor
) -> None:
    import traceback

    def failing(req: func.HttpRequest) -> func.HttpResponse:
        raise OrderFailed("no stock")

    with pytest.raises(OrderFailed) as caught:
        azure_function(failing)(http_request())
    frames = traceback.extract_tb(caught.value.__traceback__)
    ours = [f for f in frames if f.name == "instana_azure_wrapper"]
    assert len(ours) == 1
    assert (ours[0].filename, ours[0].lineno) == (__file__, failing.__code__.co_firstlineno)
    assert ours[0].line == "def failing(req: func.HttpRequest) -> func.HttpResponse:"
    assert frames[-1].name == "failing"


def test_worker_indexes_wrapped_functions_like_the_originals() -> None:
    def build(wrap: bool) -> Dict[str, Any]:
        app = func.FunctionApp()
        deco = azure_function if wrap else (lambda f: f)

        @app.route(route="orders", methods=["POST"])
        @app.queue_output(arg_name="outbox", queue_name="q", connection="C")
        @deco
        def create(
            req: func.HttpRequest, outbox: func.Out[str], context: func.Context
        ) -> func.HttpResponse:
            return func.HttpResponse("x")

        @app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
        @deco
        async def tick(timer: func.TimerRequest) -> None:
            pass

        @app.service_bus_queue_trigger(arg_name="msg", queue_name="sb", connection="SB")
        @deco
        def on_bus(msg: func.ServiceBusMessage, context: func.Context) -> None:
            pass

        return {
            name: (i.requires_context, i.is_async, i.has_return, dict(i.out_params))
            for name, i in index_app(app).items()
        }

    wrapped, plain = build(True), build(False)
    assert wrapped == plain
    assert wrapped["create"] == (True, False, True, {"outbox": str})
    assert wrapped["tick"][1] is True


# -- HTTP ---------------------------------------------------------------------------------


def http_app(status: int = 201) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.route(route="orders/{id}", methods=["GET", "POST"])
    @azure_function
    def get_order(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse(
            f"order {req.route_params.get('id')}",
            status_code=status,
            headers={"X-App": "1"},
        )

    return app


def test_http_entry_span_with_http_data_status_and_server_timing(
    client: Client, acceptor: Acceptor
) -> None:
    info = index_app(http_app())["get_order"]
    request = http_request(
        "POST",
        "https://orders-app.azurewebsites.net/api/orders/42?code=FUNCKEY&q=shoes&api_key=abc",
        headers={
            "Host": "orders-app.azurewebsites.net",
            "X-INSTANA-T": "1234567890abcdef",
            "X-INSTANA-S": "fedcba0987654321",
        },
        params={"code": "FUNCKEY", "q": "shoes", "api_key": "abc"},
        route_params={"id": "42"},
    )
    response = invoke(info, request, context=WorkerContext("get_order"))

    assert response.status_code == 201
    assert response.get_body() == b"order 42"
    assert response.headers["X-App"] == "1"
    span = one_span(acceptor)
    assert response.headers["Server-Timing"] == f"intid;desc={span['t']}"
    assert span["n"] == "azf" and span["k"] == 1
    assert span["f"] == {"hl": True, "cp": "azure", "e": ENTITY}
    assert span["t"] == "1234567890abcdef" and span["p"] == "fedcba0987654321"
    assert span["ec"] == 0
    assert span["data"]["azf"] == {
        "name": "orders-app",
        "functionname": "get_order",
        "methodname": "get_order",
        "triggername": "HTTP",
        "runtime": "python",
    }
    http = span["data"]["http"]
    assert http["method"] == "POST"
    assert http["url"] == "/api/orders/42"
    assert http["host"] == "orders-app.azurewebsites.net"
    assert http["status"] == 201
    assert "FUNCKEY" not in http["params"] and "abc" not in http["params"]
    assert "q=shoes" in http["params"] and "code=<redacted>" in http["params"]
    assert [r["headers"]["x-instana-host"] for r in acceptor.requests] == [ENTITY]


def test_http_5xx_is_returned_unchanged_and_marked(client: Client, acceptor: Acceptor) -> None:
    info = index_app(http_app(status=503))["get_order"]
    response = invoke(info, http_request(), context=WorkerContext("get_order"))
    assert response.status_code == 503
    span = one_span(acceptor)
    assert span["ec"] == 1
    assert span["data"]["http"]["status"] == 503
    assert span["data"]["azf"]["error"] == "HTTP 503 Service Unavailable"


class OrderFailed(RuntimeError):
    pass


@pytest.mark.parametrize("is_async", [False, True])
def test_exception_is_reraised_unchanged_and_marked(
    client: Client, acceptor: Acceptor, is_async: bool
) -> None:
    app = func.FunctionApp()
    raised: List[BaseException] = []

    def fail() -> None:
        exc = OrderFailed("no stock")
        raised.append(exc)
        raise exc

    if is_async:

        @app.route(route="a")
        @azure_function
        async def broken(req: func.HttpRequest) -> func.HttpResponse:
            fail()
            return func.HttpResponse("never")

    else:

        @app.route(route="a")
        @azure_function
        def broken(req: func.HttpRequest) -> func.HttpResponse:
            fail()
            return func.HttpResponse("never")

    info = index_app(app)["broken"]
    with pytest.raises(OrderFailed) as caught:
        invoke(info, http_request())
    assert caught.value is raised[0]
    span = one_span(acceptor)
    assert span["ec"] == 1
    assert span["data"]["azf"]["error"] == "OrderFailed: no stock"
    # No context parameter: the function name comes from the method.
    assert span["data"]["azf"]["functionname"] == "broken"


def test_async_http_function_is_traced_and_awaited(client: Client, acceptor: Acceptor) -> None:
    app = func.FunctionApp()

    @app.route(route="hello")
    @azure_function
    async def hello(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse(f"hello {req.params.get('name')}", status_code=200)

    info = index_app(app)["hello"]
    assert info.is_async
    response = invoke(info, http_request(params={"name": "ann"}), context=WorkerContext("hi"))
    assert response.get_body() == b"hello ann"
    span = one_span(acceptor)
    assert span["data"]["azf"]["triggername"] == "HTTP"
    # Without instrument_function_app the worker's context names the function.
    assert span["data"]["azf"]["functionname"] == "hi"
    assert span["data"]["azf"]["methodname"] == "hello"
    assert response.headers["Server-Timing"] == f"intid;desc={span['t']}"


def test_trace_context_is_used_but_http_instana_headers_win(
    client: Client, acceptor: Acceptor
) -> None:
    info = index_app(http_app(status=200))["get_order"]
    context = WorkerContext("get_order", trace_parent=TRACEPARENT, trace_state="in=aaaa;bbbb")

    invoke(info, http_request(), context=context)
    from_context = one_span(acceptor)
    assert from_context["t"] == "8448eb211c80319c"
    assert from_context["lt"] == "0af7651916cd43dd8448eb211c80319c"
    assert from_context["p"] == "b7ad6b7169203331"
    assert from_context["tp"] is True

    acceptor.clear()
    headers = {"x-instana-t": "00000000000000aa", "x-instana-s": "00000000000000bb"}
    invoke(info, http_request(headers=headers), context=context)
    from_headers = one_span(acceptor)
    assert (from_headers["t"], from_headers["p"]) == ("00000000000000aa", "00000000000000bb")
    assert "tp" not in from_headers


def test_suppressed_request_records_nothing(client: Client, acceptor: Acceptor) -> None:
    info = index_app(http_app(status=200))["get_order"]
    response = invoke(info, http_request(headers={"X-INSTANA-L": "0"}), context=None)
    assert response.status_code == 200
    assert acceptor.spans() == []


# -- other triggers -----------------------------------------------------------------------


def test_timer_and_queue_triggers(client: Client, acceptor: Acceptor) -> None:
    app = func.FunctionApp()
    seen: List[Any] = []

    @app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
    @azure_function
    def tick(timer: func.TimerRequest) -> None:
        seen.append(timer.past_due)

    @app.queue_trigger(arg_name="msg", queue_name="orders", connection="C")
    @azure_function
    async def work(msg: func.QueueMessage, context: func.Context) -> None:
        seen.append(msg.get_body())

    indexed = index_app(app)
    invoke(indexed["tick"], timer_request(past_due=True))
    invoke(indexed["work"], queue_message("job-1"), context=WorkerContext("work"))
    assert seen == [True, b"job-1"]
    spans = acceptor.spans()
    assert [s["data"]["azf"]["triggername"] for s in spans] == ["Timer", "Queue"]
    assert all(s["f"]["cp"] == "azure" and "p" not in s for s in spans)


def test_service_bus_application_properties_carry_the_trace(
    client: Client, acceptor: Acceptor
) -> None:
    app = func.FunctionApp()

    @app.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection="SB")
    @azure_function
    def on_bus(msg: func.ServiceBusMessage) -> None:
        assert msg.get_body() == b"payload"

    info = index_app(app)["on_bus"]
    invoke(
        info,
        service_bus_message(
            "payload", {"X_INSTANA_T": "00000000000000c1", "X_INSTANA_S": "00000000000000c2"}
        ),
    )
    invoke(info, service_bus_message("payload", {"traceparent": TRACEPARENT}))
    instana_props, w3c_props = acceptor.spans()
    assert instana_props["data"]["azf"]["triggername"] == "Service Bus"
    assert (instana_props["t"], instana_props["p"]) == ("00000000000000c1", "00000000000000c2")
    assert (w3c_props["t"], w3c_props["p"]) == ("8448eb211c80319c", "b7ad6b7169203331")


def test_event_hub_properties_carry_the_trace(client: Client, acceptor: Acceptor) -> None:
    import json

    from azure.functions import meta
    from azure.functions.eventhub import EventHubTriggerConverter

    app = func.FunctionApp()

    @app.event_hub_message_trigger(arg_name="event", event_hub_name="hub", connection="EH")
    @azure_function
    def on_event(event: func.EventHubEvent) -> None:
        assert event.get_body() == b"reading"

    props = {"X-INSTANA-T": "00000000000000d1", "X-INSTANA-S": "00000000000000d2"}
    event = EventHubTriggerConverter.decode(
        meta.Datum(b"reading", "bytes"),
        trigger_metadata={
            "Properties": meta.Datum(json.dumps(props), "json"),
            "SystemProperties": meta.Datum(json.dumps({"SequenceNumber": 7}), "json"),
            "SequenceNumber": meta.Datum(7, "int"),
        },
    )
    invoke(index_app(app)["on_event"], event)
    span = one_span(acceptor)
    assert span["data"]["azf"]["triggername"] == "Event Hubs"
    assert (span["t"], span["p"]) == ("00000000000000d1", "00000000000000d2")


def _blob() -> Any:
    from azure.functions.blob import InputStream

    return InputStream(data=b"abc", name="container/a.txt", uri="https://x/container/a.txt")


def _event_hub() -> Any:
    from azure.functions._eventhub import EventHubEvent

    return [EventHubEvent(body=b"e1"), EventHubEvent(body=b"e2")]


def _event_grid() -> Any:
    return func.EventGridEvent(
        id="1",
        data={},
        topic="t",
        subject="s",
        event_type="Microsoft.Storage.BlobCreated",
        event_time=None,
        data_version="1",
    )


def _cosmos() -> Any:
    return func.DocumentList([func.Document.from_dict({"id": "1"})])


@pytest.mark.parametrize(
    "make, expected",
    [
        (_blob, "Blob Storage"),
        (_event_hub, "Event Hubs"),
        (_event_grid, "Event Grid"),
        (_cosmos, "Cosmos DB"),
        (lambda: timer_request(), "Timer"),
        (lambda: queue_message("x"), "Queue"),
        (lambda: service_bus_message("x", {}), "Service Bus"),
        (lambda: http_request(), "HTTP"),
    ],
)
def test_trigger_inferred_from_the_argument_type(
    client: Client, acceptor: Acceptor, make: Any, expected: str
) -> None:
    @azure_function
    def handler(event: Any) -> str:
        return "done"

    assert handler(event=make()) == "done"
    assert one_span(acceptor)["data"]["azf"]["triggername"] == expected


# -- robustness ---------------------------------------------------------------------------


def test_without_endpoint_the_function_runs_untraced(acceptor: Acceptor) -> None:
    instana.configure(instana.Options(agent_key=AGENT_KEY), environ={})
    try:
        info = index_app(http_app(status=202))["get_order"]
        response = invoke(info, http_request(), context=WorkerContext("get_order"))
        assert response.status_code == 202
        assert "Server-Timing" not in response.headers
        assert acceptor.requests == []
    finally:
        instana.configure(environ={})


def test_a_tracer_failure_never_reaches_the_function(
    client: Client, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr("instana_serverless.azure.wrapper.http_data", broken)
    info = index_app(http_app(status=200))["get_order"]
    response = invoke(info, http_request(), context=WorkerContext("get_order"))
    assert response.status_code == 200
    assert acceptor.spans() == []


class _OddRequest:
    """Not from azure.functions: must not be taken for an HTTP request."""

    method = 7
    url = None
    headers = ("not", "a", "mapping")


@pytest.mark.parametrize(
    "url",
    ["", "no-scheme/path?x=1", "https://", "https://host", "::::", "https://h/p?%zz=&&=#f"],
)
def test_odd_urls_and_headers_give_a_valid_span(
    client: Client, acceptor: Acceptor, url: str
) -> None:
    info = index_app(http_app(status=200))["get_order"]
    request = http_request(url=url, headers={"traceparent": "garbage", "x-instana-t": "zz"})
    assert invoke(info, request, context=WorkerContext("get_order")).status_code == 200
    span = one_span(acceptor)
    assert span["data"]["azf"]["triggername"] == "HTTP"
    assert "p" not in span

    @azure_function
    def odd(event: Any) -> str:
        return "fine"

    acceptor.clear()
    assert odd(_OddRequest()) == "fine"
    assert "triggername" not in one_span(acceptor)["data"]["azf"]


def test_decorator_above_the_app_decorators_still_traces(
    client: Client, acceptor: Acceptor
) -> None:
    app = func.FunctionApp()

    @azure_function
    @app.route(route="late")
    def late(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("late")

    info = index_app(app)["late"]
    assert invoke(info, http_request()).get_body() == b"late"
    assert one_span(acceptor)["data"]["azf"]["methodname"] == "late"


def test_generators_are_left_alone() -> None:
    def gen() -> Iterator[int]:
        yield 1

    assert azure_function(gen) is gen


def test_trigger_type_cache_is_bounded() -> None:
    for index in range(triggers._MAX_CACHED_TYPES + 10):
        triggers.binding_of(type(f"T{index}", (), {})())
    assert len(triggers._binding_by_type) <= triggers._MAX_CACHED_TYPES


def test_concurrent_invocations_all_report(client: Client, acceptor: Acceptor) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    app = func.FunctionApp()

    @app.route(route="sync")
    @azure_function
    def sync_fn(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.params["n"])

    @app.route(route="async")
    @azure_function
    async def async_fn(req: func.HttpRequest) -> func.HttpResponse:
        await asyncio.sleep(0.001)
        return func.HttpResponse(req.params["n"])

    indexed = index_app(app)
    with ThreadPoolExecutor(max_workers=6) as pool:
        bodies = list(
            pool.map(
                lambda n: invoke(indexed["sync_fn"], http_request(params={"n": str(n)})),
                range(24),
            )
        )
    assert [r.get_body() for r in bodies] == [str(n).encode() for n in range(24)]

    async def many() -> List[Any]:
        return await asyncio.gather(
            *(async_fn(req=http_request(params={"n": str(n)})) for n in range(12))
        )

    assert len(asyncio.run(many())) == 12
    spans = acceptor.wait_for_spans(36, timeout=5)
    assert len(spans) == 36
    assert len({s["s"] for s in spans}) == 36
    assert all(r["status"] < 300 for r in acceptor.requests)
