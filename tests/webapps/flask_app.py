from __future__ import annotations

from typing import Any

from flask import Flask, abort, jsonify

import instana_serverless as instana
from tests.webapps import BROKEN, downstream

app = Flask(__name__)


@app.get("/users/<int:user_id>")
def user(user_id: int) -> Any:
    downstream()
    return jsonify(id=user_id)


@app.get("/boom")
def boom() -> Any:
    raise ValueError(BROKEN)


@app.get("/down")
def down() -> Any:
    abort(503, "db down")


def traced() -> Any:
    """The app inside our middleware (built on call: the plain ``app`` stays untouched)."""
    return instana.WSGIMiddleware(app)
