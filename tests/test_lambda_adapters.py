"""The web frameworks on Lambda, behind the adapters users put them behind (Mangum, apig-wsgi,
serverless-wsgi, aws-wsgi), run by the real ``awslambdaric`` against our Runtime API emulator:
with the layer (``LAMBDA_HANDLER``) or ``@instana.lambda_handler``, with or without our
middleware inside. One ``aws.lambda.entry`` per invocation whatever the combination; the
framework's route template replaces API Gateway's ``/{proxy+}``; errors carry their message
in ``data.http.error`` and ``data.lambda.error`` (checks in tests/web_support.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict

import pytest

from demo.lambda_runtime import RuntimeAPI, start_runtime
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY
from tests.lambda_fixtures import load_event
from tests.web_support import (
    DJANGO,
    FASTAPI,
    FLASK,
    Expect,
    Response,
    check,
    downstream,
    run_requests,
    wait_for_entries,
)

LAYER = "instana_serverless.lambda_layer.handler"
HANDLERS = "tests.webapps.lambda_handlers"

# (WEBAPP_HANDLER, with the layer or the decorator, what the backend must receive)
COMBINATIONS = [
    ("mangum", "layer", FASTAPI),
    ("mangum-traced", "decorator", FASTAPI),  # our ASGI middleware inside the decorator
    ("apig-wsgi", "layer", FLASK),
    ("apig-wsgi-traced", "decorator", FLASK),  # our WSGI middleware inside the decorator
    ("apig-wsgi-django", "layer", DJANGO),
    ("serverless-wsgi", "layer", FLASK),
    ("aws-wsgi", "layer", FLASK),
]


def rest_event(path: str, headers: Dict[str, str]) -> Dict[str, Any]:
    """An API Gateway REST proxy event for ``GET path`` on a ``/{proxy+}`` resource."""
    event = copy.deepcopy(load_event("api_gateway_rest"))
    event.update(
        resource="/{proxy+}",
        path=path,
        pathParameters={"proxy": path.lstrip("/")},
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
    )
    base = {k: v for k, v in event["headers"].items() if not k.lower().startswith("x-instana")}
    event["headers"] = {**base, **headers}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"].update(resourcePath="/{proxy+}", path=f"/prod{path}")
    return event


def as_response(result: Any) -> Response:
    assert isinstance(result, dict), result
    headers: Dict[str, str] = {}
    for name, value in (result.get("headers") or {}).items():
        headers[name.lower()] = value
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ",".join(values)
    body = result.get("body") or ""
    return Response(int(result["statusCode"]), headers, body.encode())


@pytest.mark.parametrize(
    ("kind", "wrapper", "expect"), COMBINATIONS, ids=[f"{k}-{w}" for k, w, _ in COMBINATIONS]
)
def test_framework_behind_adapter(kind: str, wrapper: str, expect: Expect, tmp_path: Path) -> None:
    with (
        Acceptor(key=AGENT_KEY) as acceptor,
        downstream() as service,
        RuntimeAPI(observe=lambda: len(acceptor.spans())) as api,
    ):
        env = {
            "WEBAPP_HANDLER": kind,
            "INSTANA_ENDPOINT_URL": acceptor.url,
            "INSTANA_AGENT_KEY": AGENT_KEY,
            "DOWNSTREAM_URL": f"{service.url}/ping",
        }
        if wrapper == "layer":
            env["LAMBDA_HANDLER"] = f"{HANDLERS}.handler"
        handler = LAYER if wrapper == "layer" else f"{HANDLERS}.decorated"
        proc = start_runtime(api, handler, code_dir=tmp_path, env=env)
        try:

            def send(path: str, headers: Dict[str, str]) -> Response:
                invocation = api.invoke(rest_event(path, headers), timeout_s=30.0)
                assert invocation.outcome == "response", (invocation.body, proc.poll())
                return as_response(invocation.body)

            responses = run_requests(send)
            spans = wait_for_entries(acceptor, 4)
        finally:
            proc.terminate()
            output = proc.communicate(timeout=10)[0]
    entries = check(
        spans,
        responses,
        service,
        expect,
        "aws.lambda.entry",
        error_paths=(("http",), ("lambda",)),
    )
    for entry in entries:
        assert entry["data"]["lambda"]["trigger"] == "aws:api.gateway", output
    assert json.loads(responses[0].body) == {"id": 42}
