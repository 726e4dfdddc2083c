from __future__ import annotations

from typing import Any

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="not-a-secret",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

import instana_serverless as instana  # noqa: E402
from tests.webapps import BROKEN, downstream  # noqa: E402


def user(request: Any, user_id: int) -> Any:
    downstream()
    return JsonResponse({"id": user_id})


def boom(request: Any) -> Any:
    raise ValueError(BROKEN)


def down(request: Any) -> Any:
    return HttpResponse("db down", status=503)


urlpatterns = [path("users/<int:user_id>", user), path("boom", boom), path("down", down)]

app = get_wsgi_application()


def traced() -> Any:
    """The app inside our middleware (built on call: the plain ``app`` stays untouched)."""
    return instana.WSGIMiddleware(app)
