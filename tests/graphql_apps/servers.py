"""The bookshop served as users serve it, each app behind our middleware: graphene inside a
Flask view and ariadne's WSGI app (for gunicorn), strawberry's and ariadne's ASGI apps (for
uvicorn). Configured from the environment, as in a deployed service."""

from __future__ import annotations

from typing import Any

import instana_serverless as instana


def flask_graphene() -> Any:
    from flask import Flask, jsonify, request

    from tests.graphql_apps.graphene_schema import schema

    app = Flask(__name__)

    @app.post("/graphql")
    def graphql_view() -> Any:
        body = request.get_json()
        result = schema.execute(body["query"], operation_name=body.get("operationName"))
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [{"message": e.message} for e in result.errors]
        return jsonify(payload)

    app.wsgi_app = instana.WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def ariadne_wsgi() -> Any:
    from ariadne.wsgi import GraphQL

    from tests.graphql_apps.ariadne_schema import schema

    return instana.WSGIMiddleware(GraphQL(schema))


def strawberry_asgi() -> Any:
    from strawberry.asgi import GraphQL

    from tests.graphql_apps.strawberry_schema import schema

    return instana.ASGIMiddleware(GraphQL(schema))


def ariadne_asgi() -> Any:
    from ariadne.asgi import GraphQL

    from tests.graphql_apps.ariadne_schema import schema

    return instana.ASGIMiddleware(GraphQL(schema))
