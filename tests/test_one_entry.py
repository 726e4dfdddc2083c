"""One entry span per unit of work: our WSGI/ASGI middleware and the framework rows inside an
entry that is already active (``entry_span``, ``@lambda_handler``, ``@cloud_run``, the Azure
wrapper) enrich it instead of opening a second one. The Lambda adapters under the real runtime
client are in tests/test_lambda_adapters.py."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List

import azure.functions as func
import pytest
from mangum import Mangum
from werkzeug.wrappers import Response as WerkzeugResponse

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.gcp import cloud_run
from instana_serverless.middleware import ASGIMiddleware, WSGIMiddleware
from tests.conftest import span_name
from tests.instr_support import traced
from tests.lambda_fixtures import load_event, make_context
from tests.scenarios._web import call_asgi, call_wsgi
from tests.test_cloudrun_decorator import not_on_cloud_run
from tests.web_support import CONTEXT, PARENT, TRACE
from tests.webapps import BROKEN, django_app, fastapi_app, flask_app

__all__ = ["traced"]  # a fixture, used by name

# (the app inside our middleware, how to serve one request, its route template)
APPS: Dict[str, Any] = {
    "flask": (lambda: WSGIMiddleware(flask_app.app), call_wsgi, "/users/{int:user_id}"),
    "django": (lambda: WSGIMiddleware(django_app.app), call_wsgi, "users/<int:user_id>"),
    "fastapi": (lambda: ASGIMiddleware(fastapi_app.app), call_asgi, "/users/{user_id}"),
}


def entries(acceptor: Acceptor, client: Client) -> List[Dict[str, Any]]:
    client.flush()
    return [s for s in acceptor.spans() if s["k"] == 1]


@pytest.mark.parametrize("name", sorted(APPS))
def test_middleware_inside_entry_span_enriches_it(
    traced: Client, acceptor: Acceptor, name: str
) -> None:
    make, serve, template = APPS[name]
    app = make()
    with instana.entry_span("job", headers=CONTEXT) as outer:
        status, body = serve(app, "/users/42")
        assert status == 200 and json.loads(body) == {"id": 42}
    with instana.entry_span("job"):
        assert serve(app, "/boom")[0] == 500
    span, failed = entries(acceptor, traced)
    assert span_name(span) == "job" and span["s"] == outer.span_id
    assert (span["t"], span["p"]) == (TRACE, PARENT)
    http = span["data"]["http"]
    assert http["path_tpl"] == template and http["method"] == "GET" and http["status"] == 200
    assert span["ec"] == 0
    # the failure, counted once though the framework, the middleware and entry_span saw it
    assert failed["data"]["http"]["status"] == 500
    assert failed["data"]["http"]["error"] == f"ValueError: {BROKEN}"
    assert failed["ec"] == 1


def rest_event(path: str) -> Dict[str, Any]:
    event = load_event("api_gateway_rest")
    event.update(
        resource="/{proxy+}",
        path=path,
        pathParameters={"proxy": path[1:]},
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
    )
    return event


def test_asgi_middleware_inside_the_lambda_decorator(traced: Client, acceptor: Acceptor) -> None:
    # the common pattern: Mangum around the app in our middleware, all in @lambda_handler
    handler = instana.lambda_handler(Mangum(ASGIMiddleware(fastapi_app.app), lifespan="off"))
    result = handler(rest_event("/users/7"), make_context())
    assert result["statusCode"] == 200 and json.loads(result["body"]) == {"id": 7}
    (span,) = entries(acceptor, traced)
    assert span["n"] == "aws.lambda.entry"
    # the trace API Gateway's request carried, and Server-Timing naming it once
    assert span["t"] == "0000000000001234"
    assert result["headers"]["server-timing"] == f"intid;desc={span['t']}"
    assert "Server-Timing" not in result["headers"]
    assert span["data"]["http"]["path_tpl"] == "/users/{user_id}"
    failed = handler(rest_event("/boom"), make_context())
    assert failed["statusCode"] == 500
    boom = entries(acceptor, traced)[-1]
    assert boom["ec"] == 1
    message = f"ValueError: {BROKEN}"
    assert boom["data"]["lambda"]["error"] == boom["data"]["http"]["error"] == message


def test_wsgi_app_served_from_a_cloud_run_function(traced: Client, acceptor: Acceptor) -> None:
    inner = WSGIMiddleware(flask_app.app)

    @cloud_run
    def proxy(request: Any) -> Any:
        # a function that hands its request to a WSGI app
        return WerkzeugResponse.from_app(inner, request.environ)

    serving = func_request_app(proxy)
    with not_on_cloud_run():
        response = serving.get("/users/42", headers=CONTEXT)
        assert response.status_code == 200 and response.json == {"id": 42}
        assert serving.get("/down").status_code == 503
    first, down = entries(acceptor, traced)
    assert first["n"] == "wsgi" and (first["t"], first["p"]) == (TRACE, PARENT)
    assert first["data"]["http"]["path_tpl"] == "/users/{int:user_id}"
    assert response.headers["Server-Timing"] == f"intid;desc={TRACE}"
    assert down["ec"] == 1
    assert down["data"]["http"]["error"] == "503 Service Unavailable: db down"


def func_request_app(function: Callable[[Any], Any]) -> Any:
    """A Flask app serving every path with ``function``, as functions-framework does."""
    from flask import Flask, request

    app = Flask("ff")

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def serve(path: str) -> Any:
        return function(request._get_current_object())  # type: ignore[attr-defined]

    return app.test_client()


def test_wsgi_app_inside_the_azure_wrapper(
    traced: Client, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "orders-app")
    inner = func.WsgiMiddleware(WSGIMiddleware(flask_app.app).__call__)

    @instana.azure_function
    def users(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return inner.handle(req, context)

    class Context:
        invocation_id = "inv-1"
        function_name = "users"
        trace_context = None

    request = func.HttpRequest(
        "GET", "https://orders-app.azurewebsites.net/users/42", headers=CONTEXT, body=b""
    )
    response = users(request, Context())  # type: ignore[arg-type]
    assert response.status_code == 200 and json.loads(response.get_body()) == {"id": 42}
    (span,) = entries(acceptor, traced)
    assert span["n"] == "azf" and span["t"] == TRACE
    assert span["data"]["http"]["path_tpl"] == "/users/{int:user_id}"


def test_asgi_middleware_alone_still_opens_its_entry(traced: Client, acceptor: Acceptor) -> None:
    status, _ = call_asgi(ASGIMiddleware(fastapi_app.app, flush=True), "/users/5")
    assert status == 200
    (span,) = entries(acceptor, traced)
    assert span["n"] == "asgi" and span["data"]["http"]["path_tpl"] == "/users/{user_id}"


def test_exception_through_middleware_and_decorator_counts_once(
    traced: Client, acceptor: Acceptor
) -> None:
    from apig_wsgi import make_lambda_handler

    def raw(environ: Any, start_response: Any) -> Any:
        raise ValueError(BROKEN)

    handler = instana.lambda_handler(make_lambda_handler(WSGIMiddleware(raw)))
    with pytest.raises(ValueError, match=BROKEN):
        handler(rest_event("/users/1"), make_context())
    (span,) = entries(acceptor, traced)
    assert span["ec"] == 1
    message = f"ValueError: {BROKEN}"
    assert span["data"]["lambda"]["error"] == span["data"]["http"]["error"] == message
    assert span["data"]["http"]["status"] == 500


def test_http_api_default_route_gets_the_framework_template(
    traced: Client, acceptor: Acceptor
) -> None:
    # an HTTP API's $default route gives no template of its own: the framework's is the one
    event = load_event("api_gateway_http_v2")
    event.update(routeKey="$default", rawPath="/users/9", rawQueryString="", body=None)
    event.pop("queryStringParameters", None)
    event["requestContext"].update(routeKey="$default")
    event["requestContext"]["http"].update(method="GET", path="/users/9")
    handler = instana.lambda_handler(Mangum(fastapi_app.app, lifespan="off"))
    result = handler(event, make_context())
    assert result["statusCode"] == 200 and json.loads(result["body"]) == {"id": 9}
    (span,) = entries(acceptor, traced)
    assert span["data"]["http"]["path_tpl"] == "/users/{user_id}"
