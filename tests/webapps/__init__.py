"""The same small service in each web framework we enrich, for the framework tests on real
servers and under the real Lambda adapters (tests/web_support.py):

- ``GET /users/<id>`` calls ``DOWNSTREAM_URL`` (an exit span under the request's entry) and
  answers ``{"id": <id>}``;
- ``GET /boom`` raises ``ValueError("user 42 is broken")``;
- ``GET /down`` answers 503: ``abort(503, "db down")`` in Flask, ``HTTPException(503, "db
  down")`` in FastAPI, a plain 503 response in Django, ``HTTPServiceUnavailable`` in aiohttp.

Each module has ``app`` (the framework's own application) and, where one applies, ``traced``:
the same app inside our WSGI/ASGI middleware.
"""

from __future__ import annotations

import os
import urllib.request

BROKEN = "user 42 is broken"


def downstream() -> None:
    url = os.environ.get("DOWNSTREAM_URL")
    if url:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
