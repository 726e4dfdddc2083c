"""Flask, served in-process through WSGI (the real server: tests/test_instr_flask.py)."""

from __future__ import annotations

from tests.scenarios._web import Served, WebScenario, call_wsgi
from tests.webapps import flask_app


class FlaskApp(WebScenario):
    imports = ("flask",)
    path_tpl = "/users/{int:user_id}"

    def serve(self, path: str) -> Served:
        return call_wsgi(flask_app.app, path)


SCENARIOS = [FlaskApp()]
