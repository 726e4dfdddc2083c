"""The test function app run by Microsoft's library worker (tests/test_azure_runtime.py): one
function per trigger, each telling through a queue output binding (or its HTTP response) what
the worker handed it. Some are decorated with ``@azure_function``, the others are traced by
``instrument_function_app`` at the end, the two ways users add tracing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import azure.functions as func

from instana_serverless.azure import azure_function, instrument_function_app

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


class OrderFailed(RuntimeError):
    pass


def seen_by(context: func.Context) -> Dict[str, Any]:
    """What the function can tell of its context; reads the file next to the app."""
    directory = Path(context.function_directory)
    greeting = directory / "greeting.txt"
    return {
        "context_type": type(context).__name__,
        "function_name": context.function_name,
        "invocation_id": context.invocation_id,
        "function_directory": str(directory),
        "greeting": greeting.read_text().strip() if greeting.exists() else None,
        "trace_parent": context.trace_context.trace_parent,
        "trace_state": context.trace_context.trace_state,
    }


def report(seen: func.Out[str], value: Any, context: func.Context, **facts: Any) -> None:
    seen.set(json.dumps({"type": type(value).__name__, **seen_by(context), **facts}))


@app.route(route="orders/{id}", methods=["GET", "POST"])
@azure_function
def http_sync(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    body = {
        "type": type(req).__name__,
        "id": req.route_params.get("id"),
        "q": req.params.get("q"),
        "body": req.get_body().decode(),
        **seen_by(context),
    }
    return func.HttpResponse(
        json.dumps(body), status_code=201, headers={"X-App": "1"}, mimetype="application/json"
    )


@app.route(route="hello")
async def http_async(req: func.HttpRequest, context: func.Context) -> str:
    return json.dumps(
        {"type": type(req).__name__, "name": req.params.get("name"), **seen_by(context)}
    )


@app.route(route="status/{code}")
@azure_function
def http_status(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("status", status_code=int(req.route_params["code"]))


@app.route(route="fail")
@azure_function
def http_fail(req: func.HttpRequest) -> func.HttpResponse:
    raise OrderFailed("no stock for tea")


@app.route(route="fail-async")
async def http_fail_async(req: func.HttpRequest) -> func.HttpResponse:
    raise OrderFailed("no stock for coffee")


@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
@azure_function
def tick(timer: func.TimerRequest, seen: func.Out[str], context: func.Context) -> None:
    print("tick: the worker sends print() to the log, not to the host")
    report(seen, timer, context, past_due=timer.past_due)


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
async def on_queue(msg: func.QueueMessage, seen: func.Out[str], context: func.Context) -> None:
    report(seen, msg, context, body=msg.get_body().decode(), id=msg.id)


@app.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection="ServiceBus")
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
@azure_function
def on_bus(msg: func.ServiceBusMessage, seen: func.Out[str], context: func.Context) -> None:
    report(
        seen,
        msg,
        context,
        body=msg.get_body().decode(),
        application_properties=msg.application_properties,
    )


@app.event_hub_message_trigger(arg_name="event", event_hub_name="readings", connection="Hub")
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
def on_hub(event: func.EventHubEvent, seen: func.Out[str], context: func.Context) -> None:
    report(seen, event, context, body=event.get_body().decode())


@app.event_hub_message_trigger(
    arg_name="events", event_hub_name="batch", connection="Hub", cardinality="many"
)
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
@azure_function
def on_hub_batch(
    events: List[func.EventHubEvent], seen: func.Out[str], context: func.Context
) -> None:
    bodies = [event.get_body().decode() for event in events]
    report(seen, events, context, bodies=bodies, item_type=type(events[0]).__name__)


@app.blob_trigger(arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
@azure_function
def on_blob(blob: func.InputStream, seen: func.Out[str], context: func.Context) -> None:
    report(seen, blob, context, name=blob.name, body=blob.read().decode())


@app.event_grid_trigger(arg_name="event")
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
def on_grid(event: func.EventGridEvent, seen: func.Out[str], context: func.Context) -> None:
    report(seen, event, context, event_type=event.event_type, subject=event.subject)


@app.cosmos_db_trigger(
    arg_name="docs", connection="Cosmos", database_name="shop", container_name="orders"
)
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
@azure_function
def on_cosmos(docs: func.DocumentList, seen: func.Out[str], context: func.Context) -> None:
    ids: List[Any] = [doc["id"] for doc in docs]
    report(seen, docs, context, ids=ids)


@app.queue_trigger(arg_name="body", queue_name="plain", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="seen", queue_name="seen", connection="AzureWebJobsStorage")
def read_plain(body: str, seen: func.Out[str], context: func.Context) -> None:
    """Delivered as ``str``: only the declared bindings tell the trigger."""
    report(seen, body, context, body=body)


instrument_function_app(app)
