"""A sample function app traced by instana_serverless (Python v2 programming model).

``POST /api/orders?item=…`` answers and puts the order on the ``orders`` storage queue;
``process_order`` is triggered by that queue. Deploy with the usual tools, e.g.
``func azure functionapp publish <app>``, after setting ``INSTANA_ENDPOINT_URL`` and
``INSTANA_AGENT_KEY`` in the app settings (``local.settings.json`` when run locally).
"""

from __future__ import annotations

import json
import logging

import azure.functions as func

from instana_serverless.azure import azure_function, instrument_function_app

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="orders", methods=["GET", "POST"])
@app.queue_output(arg_name="outbox", queue_name="orders", connection="AzureWebJobsStorage")
@azure_function  # under the FunctionApp decorators: keeps the signature the worker inspects
def create_order(
    req: func.HttpRequest, outbox: func.Out[str], context: func.Context
) -> func.HttpResponse:
    item = req.params.get("item")
    if not item:
        return func.HttpResponse("missing ?item=", status_code=400)
    order = {"item": item, "invocation": context.invocation_id}
    outbox.set(json.dumps(order))
    return func.HttpResponse(json.dumps(order), status_code=201, mimetype="application/json")


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
async def process_order(msg: func.QueueMessage) -> None:
    order = msg.get_json()
    logging.info("processing order for %s", order.get("item"))


# Every function of the app, including process_order which has no decorator of its own.
# Functions declared after this line are instrumented too, when the worker indexes the app.
instrument_function_app(app)
