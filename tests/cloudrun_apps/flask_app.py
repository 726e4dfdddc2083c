"""Flask on gunicorn, traced by ``WSGIMiddleware``: ``gunicorn tests.cloudrun_apps.flask_app:app``.

``SEND_AFTER_RESPONSE=1`` rebuilds what the middleware did before the send rule: no send of
its own, but one when the server closes the body, i.e. after the last byte went out;
``SEND_AFTER_RESPONSE_MS=<n>`` sends that many milliseconds later, from a timer thread.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterable, Iterator

from flask import Flask, Response

import instana_serverless as instana

flask_app = Flask(__name__)


@flask_app.get("/r/<int:number>")
def one(number: int) -> Any:
    with instana.span("render", tags={"number": number}):
        return {"number": number}


@flask_app.get("/stream/<int:number>")
def stream(number: int) -> Any:
    def chunks() -> Iterator[str]:
        for part in range(3):
            yield f"{number}:{part}\n"

    return Response(chunks(), mimetype="text/plain")  # no Content-Length: chunked


class _SendWhenClosed:
    def __init__(self, body: Iterable[bytes], delay_ms: int) -> None:
        self._body = body
        self._delay_ms = delay_ms

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            close()
        if self._delay_ms:
            threading.Timer(self._delay_ms / 1000.0, instana.flush).start()
        else:
            instana.flush()


def _send_after_response(wsgi: Any, delay_ms: int) -> Any:
    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        return _SendWhenClosed(wsgi(environ, start_response), delay_ms)

    return app


if os.environ.get("SEND_AFTER_RESPONSE") or os.environ.get("SEND_AFTER_RESPONSE_MS"):
    delay = int(os.environ.get("SEND_AFTER_RESPONSE_MS") or 0)
    app = _send_after_response(instana.WSGIMiddleware(flask_app.wsgi_app, flush=False), delay)
else:
    flask_app.wsgi_app = instana.WSGIMiddleware(flask_app.wsgi_app)  # type: ignore[method-assign]
    app = flask_app
