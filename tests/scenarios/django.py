"""Django, served in-process through WSGI (the real server: tests/test_instr_django.py)."""

from __future__ import annotations

from tests.scenarios._web import Served, WebScenario, call_wsgi
from tests.webapps import django_app


class DjangoApp(WebScenario):
    imports = ("django.core.handlers.wsgi",)
    path_tpl = "users/<int:user_id>"

    def serve(self, path: str) -> Served:
        return call_wsgi(django_app.app, path)


SCENARIOS = [DjangoApp()]
