"""Example Cloud Run service traced by instana-serverless (functions-framework).

Run locally against the bundled acceptor:

    instana-serverless acceptor --port 8989 &      # or: python -m instana_serverless.acceptor
    INSTANA_ENDPOINT_URL=http://127.0.0.1:8989 INSTANA_AGENT_KEY=local \\
        functions-framework --source cloudrun/main.py --target hello --port 8080
    curl 'http://127.0.0.1:8080/?name=Ada'

``hello`` answers HTTP; ``on_message`` handles Pub/Sub push CloudEvents (deploy it as a
second service with ``--target on_message``, or ``FUNCTION_TARGET=on_message``).
"""

from __future__ import annotations

import base64
from typing import Any

import functions_framework

import instana_serverless as instana
from instana_serverless.gcp import cloud_run


@functions_framework.http
@cloud_run
def hello(request: Any) -> Any:
    name = request.args.get("name", "world")
    if name == "crash":
        raise RuntimeError("asked to crash")
    with instana.span("render-greeting", tags={"name": name}):
        greeting = f"Hello, {name}!"
    status = 503 if name == "unavailable" else 200
    return {"greeting": greeting}, status


@cloud_run
@functions_framework.cloud_event
def on_message(cloud_event: Any) -> None:
    message = (cloud_event.data or {}).get("message", {})
    payload = base64.b64decode(message.get("data", "")).decode("utf-8", "replace")
    if payload == "poison":
        raise ValueError("poison message")
    print(f"received {payload!r} from {cloud_event['source']}")
