"""FastAPI on Starlette, served in-process through ASGI (the real server:
tests/test_instr_starlette.py)."""

from __future__ import annotations

from tests.scenarios._web import Served, WebScenario, call_asgi
from tests.webapps import fastapi_app


class FastAPIApp(WebScenario):
    imports = ("fastapi",)
    path_tpl = "/users/{user_id}"

    def serve(self, path: str) -> Served:
        return call_asgi(fastapi_app.app, path)


SCENARIOS = [FastAPIApp()]
