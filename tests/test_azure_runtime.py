"""Azure Functions through Microsoft's own worker code: ``azure-functions-runtime`` (the library
worker of the Python 3.13+ language worker) indexes, loads and invokes the apps, driven by our
host (``demo/azure_host.py``) with FunctionRpc messages. The real binding converters build the
arguments, the real worker calls our wrapper and converts what it returns, and the host's
``RpcTraceContext`` is the trace context.

One language worker process per app (``tests/azure_app`` and the sample ``azure/``), started
once for this module. Python 3.13 is needed (``make`` creates ``.venv313``); without it on the
machine the emulated worker of tests/test_azure_*.py is all there is, and these tests skip.
Under ``CI=true`` on a machine with Python 3.13 a missing ``.venv313`` is a failure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from demo import azure_host
from demo.azure_host import FunctionsHost, Invocation, bytes_data, http, json_data, string
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY
from tests.servers import missing

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "azure_app"
SAMPLE = ROOT / "azure"
ENTITY = "/subscriptions/sub-123/resourceGroups/rg-prod/providers/Microsoft.Web/sites/orders-app"
SITE = "https://orders-app.azurewebsites.net"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SETTINGS = {
    "WEBSITE_OWNER_NAME": "sub-123+rg-prod-WestEuropewebspace-Linux",
    "WEBSITE_RESOURCE_GROUP": "rg-prod",
    "WEBSITE_SITE_NAME": "orders-app",
    "FUNCTIONS_WORKER_RUNTIME": "python",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


def _worker_python() -> Path:
    python = azure_host.worker_python()
    if python is not None:
        return python
    if azure_host.machine_python313() is None:
        pytest.skip(
            "no Python 3.13 on this machine: azure-functions-runtime needs it (the emulated "
            "worker's tests run instead)"
        )
    missing("Python 3.13 is here but .venv313 is not: run make .venv313/.installed")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def runtime_acceptor() -> Iterator[Acceptor]:
    with Acceptor(key=AGENT_KEY) as server:
        yield server


@pytest.fixture
def acceptor(runtime_acceptor: Acceptor) -> Acceptor:
    runtime_acceptor.clear()
    return runtime_acceptor


def _start(app_dir: Path, acceptor: Acceptor, tmp: Path) -> Iterator[FunctionsHost]:
    python = _worker_python()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "WEBSITE_", "AWS_"))
    }
    env.update(SETTINGS)
    env.update({"INSTANA_ENDPOINT_URL": acceptor.url, "INSTANA_AGENT_KEY": AGENT_KEY})
    log = tmp / f"{app_dir.name}-worker.log"
    with log.open("w") as stderr:
        host = FunctionsHost(app_dir, env, python=python, stderr=stderr)
        try:
            host.start()
        except azure_host.WorkerError as exc:
            host.close()
            pytest.fail(f"{exc}\n{log.read_text()[-3000:]}")
        try:
            yield host
        finally:
            host.close()


@pytest.fixture(scope="module")
def app(
    runtime_acceptor: Acceptor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FunctionsHost]:
    yield from _start(APP, runtime_acceptor, tmp_path_factory.mktemp("azure-app"))


@pytest.fixture(scope="module")
def sample(
    runtime_acceptor: Acceptor, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FunctionsHost]:
    yield from _start(SAMPLE, runtime_acceptor, tmp_path_factory.mktemp("azure-sample"))


def one_span(acceptor: Acceptor) -> Dict[str, Any]:
    # Flushed before the function returned to the worker: no waiting.
    spans = acceptor.spans()
    assert len(spans) == 1, spans
    return spans[0]


def ok(invocation: Invocation) -> Invocation:
    assert invocation.ok, invocation.response
    return invocation


def _assert_app_directory(seen: Dict[str, Any]) -> None:
    """The worker's context names the app's folder, where the user's files are, whether our
    decorator or ``instrument_function_app`` wrapped the function."""
    assert Path(seen["function_directory"]) == APP
    assert seen["greeting"] == "hello from next to function_app.py"


# -- indexing ------------------------------------------------------------------------------


def test_the_worker_indexes_every_wrapped_function_with_its_trigger(app: FunctionsHost) -> None:
    triggers = {name: azure_host.triggers_of(f) for name, f in app.functions.items()}
    assert triggers == {
        "http_sync": ["httpTrigger"],
        "http_async": ["httpTrigger"],
        "http_status": ["httpTrigger"],
        "http_fail": ["httpTrigger"],
        "http_fail_async": ["httpTrigger"],
        "tick": ["timerTrigger"],
        "on_queue": ["queueTrigger"],
        "on_bus": ["serviceBusTrigger"],
        "on_hub": ["eventHubTrigger"],
        "on_hub_batch": ["eventHubTrigger"],
        "on_blob": ["blobTrigger"],
        "on_grid": ["eventGridTrigger"],
        "on_cosmos": ["cosmosDBTrigger"],
        "read_plain": ["queueTrigger"],
    }
    # The metadata the worker sends the host names the app's folder too.
    assert {Path(f["directory"]) for f in app.functions.values()} == {APP}


# -- HTTP ----------------------------------------------------------------------------------


def test_http_sync_entry_span_response_and_context(app: FunctionsHost, acceptor: Acceptor) -> None:
    invocation = ok(
        app.invoke(
            "http_sync",
            {
                "req": http(
                    "POST",
                    f"{SITE}/api/orders/42?code=FUNCKEY&q=shoes",
                    headers={
                        "host": "orders-app.azurewebsites.net",
                        "x-instana-t": "1234567890abcdef",
                        "x-instana-s": "fedcba0987654321",
                    },
                    query={"code": "FUNCKEY", "q": "shoes"},
                    params={"id": "42"},
                    body=b"one tea",
                )
            },
            invocation_id="9c1f6a52-0000-4000-8000-000000000042",
        )
    )
    response = invocation.return_value
    assert response["status_code"] == "201"
    assert response["headers"]["X-App"] == "1"
    seen = json.loads(response["body"])
    assert seen["type"] == "HttpRequest" and seen["context_type"] == "Context"
    assert (seen["id"], seen["q"], seen["body"]) == ("42", "shoes", "one tea")
    assert seen["invocation_id"] == "9c1f6a52-0000-4000-8000-000000000042"
    _assert_app_directory(seen)

    span = one_span(acceptor)
    assert response["headers"]["Server-Timing"] == f"intid;desc={span['t']}"
    assert span["n"] == "azf" and span["k"] == 1 and span["ec"] == 0
    assert span["f"] == {"hl": True, "cp": "azure", "e": ENTITY}
    assert (span["t"], span["p"]) == ("1234567890abcdef", "fedcba0987654321")
    assert span["data"]["azf"] == {
        "name": "orders-app",
        "functionname": "http_sync",
        "methodname": "http_sync",
        "triggername": "HTTP",
        "runtime": "python",
    }
    data = span["data"]["http"]
    assert (data["method"], data["url"], data["status"]) == ("POST", "/api/orders/42", 201)
    assert data["host"] == "orders-app.azurewebsites.net"
    assert data["path_tpl"] == "/api/orders/{id}"
    assert "FUNCKEY" not in data["params"] and "q=shoes" in data["params"]


def test_http_async_plain_return_value(app: FunctionsHost, acceptor: Acceptor) -> None:
    invocation = ok(
        app.invoke("http_async", {"req": http("GET", f"{SITE}/api/hello", query={"name": "ann"})})
    )
    # A plain value goes back as it is: the host answers 200 with it.
    seen = json.loads(invocation.return_value)
    assert (seen["type"], seen["name"]) == ("HttpRequest", "ann")
    _assert_app_directory(seen)
    span = one_span(acceptor)
    assert span["data"]["azf"]["triggername"] == "HTTP"
    assert span["data"]["azf"]["functionname"] == "http_async"
    # A plain value has no status of ours to read: the span has none, and no error.
    assert span["ec"] == 0


def test_http_5xx_is_returned_and_marked(app: FunctionsHost, acceptor: Acceptor) -> None:
    invocation = ok(
        app.invoke(
            "http_status", {"req": http("GET", f"{SITE}/api/status/503", params={"code": "503"})}
        )
    )
    assert invocation.return_value["status_code"] == "503"
    span = one_span(acceptor)
    assert span["ec"] == 1
    assert span["data"]["http"]["status"] == 503
    assert span["data"]["azf"]["error"] == "HTTP 503"


@pytest.mark.parametrize(
    "function, message",
    [("http_fail", "no stock for tea"), ("http_fail_async", "no stock for coffee")],
)
def test_exception_reaches_the_host_as_a_failure_and_marks_the_span(
    app: FunctionsHost, acceptor: Acceptor, function: str, message: str
) -> None:
    invocation = app.invoke(function, {"req": http("GET", f"{SITE}/api/fail")})
    assert invocation.status == "Failure"
    assert message in invocation.exception["message"]
    assert "OrderFailed" in invocation.exception.get("stack_trace", "")
    span = one_span(acceptor)
    assert span["ec"] == 1
    assert span["data"]["azf"]["error"] == f"OrderFailed: {message}"
    assert span["data"]["azf"]["functionname"] == function


def test_trace_context_from_the_host_and_http_instana_headers_win(
    app: FunctionsHost, acceptor: Acceptor
) -> None:
    request = {"req": http("GET", f"{SITE}/api/orders/7", params={"id": "7"})}
    invocation = ok(
        app.invoke("http_sync", request, trace_parent=TRACEPARENT, trace_state="in=aaaa;bbbb")
    )
    seen = json.loads(invocation.return_value["body"])
    assert (seen["trace_parent"], seen["trace_state"]) == (TRACEPARENT, "in=aaaa;bbbb")
    span = one_span(acceptor)
    assert span["t"] == "8448eb211c80319c"
    assert span["lt"] == "0af7651916cd43dd8448eb211c80319c"
    assert span["p"] == "b7ad6b7169203331"
    assert span["tp"] is True

    acceptor.clear()
    headers = {"x-instana-t": "00000000000000aa", "x-instana-s": "00000000000000bb"}
    request = {"req": http("GET", f"{SITE}/api/orders/7", headers=headers, params={"id": "7"})}
    ok(app.invoke("http_sync", request, trace_parent=TRACEPARENT))
    span = one_span(acceptor)
    assert (span["t"], span["p"]) == ("00000000000000aa", "00000000000000bb")
    assert "tp" not in span


def test_suppressed_request_records_nothing(app: FunctionsHost, acceptor: Acceptor) -> None:
    request = {"req": http("GET", f"{SITE}/api/orders/1", headers={"x-instana-l": "0"})}
    invocation = ok(app.invoke("http_sync", request, trace_parent=TRACEPARENT))
    assert invocation.return_value["status_code"] == "201"
    assert "Server-Timing" not in invocation.return_value["headers"]
    assert acceptor.spans() == []


# -- other triggers --------------------------------------------------------------------------


def _queue_metadata(message_id: str) -> Dict[str, Any]:
    return {
        "Id": string(message_id),
        "DequeueCount": json_data(1),
        "PopReceipt": string("AgAAAAMAAAAAAAAA"),
        "InsertionTime": string("2026-12-06T16:00:00+00:00"),
    }


def _bus_metadata(application_properties: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "ApplicationProperties": json_data(application_properties),
        "UserProperties": json_data(application_properties),
        "MessageId": string("m-1"),
        "DeliveryCount": json_data(1),
        "ContentType": string("text/plain"),
    }


def _hub_metadata(properties: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "Properties": json_data(properties),
        "SystemProperties": json_data({"SequenceNumber": 7}),
        "SequenceNumber": json_data(7),
        "EnqueuedTimeUtc": string("2026-12-06T16:00:00Z"),
        "PartitionKey": string("p-1"),
        "Offset": string("42"),
    }


CASES: List[Any] = [
    pytest.param(
        "tick",
        {"timer": json_data({"Schedule": {"AdjustForDST": True}, "IsPastDue": True})},
        {},
        "TimerRequest",
        "Timer",
        {"past_due": True},
        id="timer",
    ),
    pytest.param(
        "on_queue",
        {"msg": string('{"item": "tea"}')},
        _queue_metadata("q-0001"),
        "QueueMessage",
        "Queue",
        {"body": '{"item": "tea"}', "id": "q-0001"},
        id="queue",
    ),
    pytest.param(
        "on_blob",
        {"blob": bytes_data(b"blob content")},
        {
            "BlobTrigger": string("uploads/a.txt"),
            "Uri": string("https://acct.blob.core.windows.net/uploads/a.txt"),
            "Properties": json_data({"Length": 12}),
        },
        "InputStream",
        "Blob Storage",
        {"name": "uploads/a.txt", "body": "blob content"},
        id="blob",
    ),
    pytest.param(
        "on_grid",
        {
            "event": json_data(
                {
                    "id": "e-1",
                    "topic": "/subscriptions/sub-123/resourceGroups/rg-prod",
                    "subject": "/blobServices/default/containers/uploads/blobs/a.txt",
                    "eventType": "Microsoft.Storage.BlobCreated",
                    "eventTime": "2026-12-06T16:00:00Z",
                    "dataVersion": "1",
                    "data": {"api": "PutBlob"},
                }
            )
        },
        {},
        "EventGridEvent",
        "Event Grid",
        {"event_type": "Microsoft.Storage.BlobCreated"},
        id="event-grid",
    ),
    pytest.param(
        "on_cosmos",
        {"docs": json_data([{"id": "o-1", "item": "tea"}, {"id": "o-2", "item": "cake"}])},
        {},
        "DocumentList",
        "Cosmos DB",
        {"ids": ["o-1", "o-2"]},
        id="cosmos-db",
    ),
    pytest.param(
        "read_plain",
        {"body": string("plain job")},
        _queue_metadata("q-0002"),
        "str",
        "Queue",
        {"body": "plain job"},
        id="queue-as-str",
    ),
]


@pytest.mark.parametrize("function, inputs, metadata, arg_type, trigger, facts", CASES)
def test_trigger_types_from_the_worker_and_the_span(
    app: FunctionsHost,
    acceptor: Acceptor,
    function: str,
    inputs: Dict[str, Any],
    metadata: Dict[str, Any],
    arg_type: str,
    trigger: str,
    facts: Dict[str, Any],
) -> None:
    invocation = ok(app.invoke(function, inputs, trigger_metadata=metadata))
    seen = invocation.output_json("seen")
    assert seen["type"] == arg_type
    assert {key: seen[key] for key in facts} == facts
    _assert_app_directory(seen)
    span = one_span(acceptor)
    assert span["data"]["azf"]["triggername"] == trigger
    assert span["data"]["azf"]["functionname"] == function
    # No trace context anywhere: each starts a trace of its own.
    assert "p" not in span and span["f"]["cp"] == "azure"


def test_service_bus_application_properties_carry_the_trace(
    app: FunctionsHost, acceptor: Acceptor
) -> None:
    instana = {"X_INSTANA_T": "00000000000000c1", "X_INSTANA_S": "00000000000000c2"}
    first = ok(
        app.invoke("on_bus", {"msg": string("payload")}, trigger_metadata=_bus_metadata(instana))
    )
    seen = first.output_json("seen")
    assert (seen["type"], seen["body"]) == ("ServiceBusMessage", "payload")
    assert seen["application_properties"] == instana
    _assert_app_directory(seen)
    w3c = {"traceparent": TRACEPARENT}
    ok(app.invoke("on_bus", {"msg": string("payload")}, trigger_metadata=_bus_metadata(w3c)))
    instana_span, w3c_span = acceptor.spans()
    assert instana_span["data"]["azf"]["triggername"] == "Service Bus"
    assert (instana_span["t"], instana_span["p"]) == ("00000000000000c1", "00000000000000c2")
    assert (w3c_span["t"], w3c_span["p"]) == ("8448eb211c80319c", "b7ad6b7169203331")


def test_event_hub_properties_carry_the_trace(app: FunctionsHost, acceptor: Acceptor) -> None:
    properties = {"X-INSTANA-T": "00000000000000d1", "X-INSTANA-S": "00000000000000d2"}
    invocation = ok(
        app.invoke(
            "on_hub",
            {"event": string("reading 21.5")},
            trigger_metadata=_hub_metadata(properties),
        )
    )
    seen = invocation.output_json("seen")
    assert (seen["type"], seen["body"]) == ("EventHubEvent", "reading 21.5")
    _assert_app_directory(seen)
    span = one_span(acceptor)
    assert span["data"]["azf"]["triggername"] == "Event Hubs"
    assert (span["t"], span["p"]) == ("00000000000000d1", "00000000000000d2")


def test_event_hub_batch_first_events_properties_carry_the_trace(
    app: FunctionsHost, acceptor: Acceptor
) -> None:
    first = {"X-INSTANA-T": "00000000000000e1", "X-INSTANA-S": "00000000000000e2"}
    second = {"X-INSTANA-T": "00000000000000f1", "X-INSTANA-S": "00000000000000f2"}
    invocation = ok(
        app.invoke(
            "on_hub_batch",
            {"events": azure_host.strings(["reading 1", "reading 2"])},
            trigger_metadata={
                "PropertiesArray": json_data([first, second]),
                "SystemPropertiesArray": json_data([{"SequenceNumber": 1}, {"SequenceNumber": 2}]),
                "SequenceNumberArray": json_data([1, 2]),
                "OffsetArray": json_data(["1", "2"]),
                "PartitionKeyArray": json_data(["p", "p"]),
                "EnqueuedTimeUtcArray": json_data(["2026-12-06T16:00:00Z"] * 2),
            },
        )
    )
    seen = invocation.output_json("seen")
    assert (seen["type"], seen["item_type"]) == ("list", "EventHubEvent")
    assert seen["bodies"] == ["reading 1", "reading 2"]
    span = one_span(acceptor)
    assert span["data"]["azf"]["triggername"] == "Event Hubs"
    assert (span["t"], span["p"]) == ("00000000000000e1", "00000000000000e2")


@pytest.mark.parametrize("function", ["on_queue", "on_blob"])
def test_host_trace_context_continues_message_triggers(
    app: FunctionsHost, acceptor: Acceptor, function: str
) -> None:
    inputs = {"msg": string("job")} if function == "on_queue" else {"blob": bytes_data(b"x")}
    metadata = _queue_metadata("q-9") if function == "on_queue" else {}
    ok(app.invoke(function, inputs, trigger_metadata=metadata, trace_parent=TRACEPARENT))
    span = one_span(acceptor)
    assert (span["t"], span["p"], span["tp"]) == ("8448eb211c80319c", "b7ad6b7169203331", True)


# -- the sample app --------------------------------------------------------------------------


def test_sample_app_runs_through_the_worker(sample: FunctionsHost, acceptor: Acceptor) -> None:
    assert {n: azure_host.triggers_of(f) for n, f in sample.functions.items()} == {
        "create_order": ["httpTrigger"],
        "process_order": ["queueTrigger"],
    }
    created = ok(
        sample.invoke(
            "create_order",
            {"req": http("POST", f"{SITE}/api/orders?item=tea", query={"item": "tea"})},
            trace_parent=TRACEPARENT,
            invocation_id="inv-0001",
        )
    )
    assert created.return_value["status_code"] == "201"
    queued = created.outputs["outbox"]
    assert json.loads(queued) == {"item": "tea", "invocation": "inv-0001"}
    ok(
        sample.invoke(
            "process_order", {"msg": string(queued)}, trigger_metadata=_queue_metadata("q-1")
        )
    )
    http_span, queue_span = acceptor.spans()
    assert http_span["data"]["azf"]["triggername"] == "HTTP"
    assert http_span["data"]["http"]["status"] == 201
    assert http_span["t"] == "8448eb211c80319c" and http_span["p"] == "b7ad6b7169203331"
    assert queue_span["data"]["azf"]["triggername"] == "Queue"
    assert queue_span["data"]["azf"]["functionname"] == "process_order"
    assert queue_span["t"] != http_span["t"]
