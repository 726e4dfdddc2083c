"""``instrument_function_app`` on real FunctionApps and Blueprints, and the azure/ sample app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import azure.functions as func
import pytest

from demo.azure_worker import WorkerContext
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.azure import azure_function, instrument_function_app
from instana_serverless.client import Client
from tests.modules import load_script
from tests.test_azure_support import http_request, index_app, invoke, queue_message

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_OWNER_NAME", "sub-9+rg-9-EastUSwebspace-Linux")
    monkeypatch.setenv("WEBSITE_SITE_NAME", "app-9")
    monkeypatch.delenv("WEBSITE_RESOURCE_GROUP", raising=False)


def test_every_function_of_an_app_and_its_blueprint_is_traced_once(
    client: Client, acceptor: Acceptor
) -> None:
    app = func.FunctionApp()
    blueprint = func.Blueprint()

    @app.function_name("ReadQueue")
    @app.queue_trigger(arg_name="body", queue_name="jobs", connection="C")
    def read_queue(body: str) -> None:  # delivered as str: only the bindings tell the trigger
        assert body == "job"

    @app.route(route="items/{id}")
    @azure_function  # decorated as well: must not be wrapped twice
    def item(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("item")

    instrument_function_app(app)

    # Declared after the call, and a blueprint registered later: instrumented at indexing.
    @app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
    async def hourly(timer: func.TimerRequest) -> None:
        pass

    @blueprint.event_grid_trigger(arg_name="event")
    def on_grid(event: func.EventGridEvent) -> None:
        pass

    app.register_functions(blueprint)
    instrument_function_app(app)  # idempotent

    indexed = index_app(app)
    invoke(indexed["ReadQueue"], "job")
    response = invoke(
        indexed["item"], http_request(url="https://app-9.azurewebsites.net/api/items/7")
    )
    invoke(indexed["hourly"], None)
    invoke(indexed["on_grid"], None)

    spans = acceptor.spans()
    assert len(spans) == 4
    by_method = {s["data"]["azf"]["methodname"]: s for s in spans}
    assert by_method["read_queue"]["data"]["azf"]["functionname"] == "ReadQueue"
    assert by_method["read_queue"]["data"]["azf"]["triggername"] == "Queue"
    assert by_method["item"]["data"]["http"]["path_tpl"] == "/api/items/{id}"
    assert by_method["item"]["data"]["http"]["status"] == 200
    assert response.headers["Server-Timing"].count("intid") == 1
    # Trigger arguments the worker would fill are None here: the bindings still name them.
    assert by_method["hourly"]["data"]["azf"]["triggername"] == "Timer"
    assert by_method["on_grid"]["data"]["azf"]["triggername"] == "Event Grid"
    entity = "/subscriptions/sub-9/resourceGroups/rg-9/providers/Microsoft.Web/sites/app-9"
    assert {s["f"]["e"] for s in spans} == {entity}


def test_blueprint_instrumented_on_its_own(client: Client, acceptor: Acceptor) -> None:
    blueprint = func.Blueprint()

    @blueprint.blob_trigger(arg_name="blob", path="in/{name}", connection="C")
    def on_blob(blob: func.InputStream) -> None:
        pass

    @blueprint.generic_trigger(arg_name="item", type="kafkaTrigger")
    def on_kafka(item: str) -> None:
        pass

    assert instrument_function_app(blueprint) is blueprint
    app = func.FunctionApp()
    app.register_blueprint(blueprint)
    indexed = index_app(app)
    invoke(indexed["on_blob"], None)
    invoke(indexed["on_kafka"], "event")
    names = [s["data"]["azf"]["triggername"] for s in acceptor.spans()]
    assert names == ["Blob Storage", "kafkaTrigger"]


def test_not_an_app_is_left_alone(all_logs: List[Any]) -> None:
    thing = object()
    assert instrument_function_app(thing) is thing
    assert any("not an azure.functions FunctionApp" in r.getMessage() for r in all_logs)


def test_sample_app_indexes_and_runs(client: Client, acceptor: Acceptor) -> None:
    sample = load_script("instana_azure_sample_app", ROOT / "azure" / "function_app.py")
    indexed = index_app(sample.app)
    assert set(indexed) == {"create_order", "process_order"}
    assert indexed["process_order"].is_async

    outs: Dict[str, Any] = {}
    context = WorkerContext("create_order", invocation_id="inv-1")
    response = invoke(
        indexed["create_order"],
        http_request(
            "POST", "https://app-9.azurewebsites.net/api/orders?item=tea", params={"item": "tea"}
        ),
        context=context,
        outs=outs,
    )
    assert response.status_code == 201
    queued = outs["outbox"].get()
    assert json.loads(queued) == {"item": "tea", "invocation": "inv-1"}
    invoke(indexed["process_order"], queue_message(queued))

    http_span, queue_span = acceptor.spans()
    assert http_span["data"]["http"]["status"] == 201
    assert http_span["data"]["azf"]["triggername"] == "HTTP"
    assert queue_span["data"]["azf"]["triggername"] == "Queue"
    assert queue_span["data"]["azf"]["functionname"] == "process_order"


def test_sample_settings_name_the_two_instana_settings() -> None:
    settings = json.loads((ROOT / "azure" / "local.settings.json.example").read_text())
    assert {"INSTANA_ENDPOINT_URL", "INSTANA_AGENT_KEY"} <= set(settings["Values"])
    assert json.loads((ROOT / "azure" / "host.json").read_text())["version"] == "2.0"
    requirements = (ROOT / "azure" / "requirements.txt").read_text()
    assert "azure-functions" in requirements and "instana-serverless" in requirements
