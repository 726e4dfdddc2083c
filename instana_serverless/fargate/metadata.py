"""The ECS task metadata endpoint, version 4 with a version 3 fallback.

``ECS_CONTAINER_METADATA_URI_V4`` (or ``ECS_CONTAINER_METADATA_URI``) serves, as JSON:
``/`` this container, ``/task`` the task and its containers, ``/stats`` Docker stats of this
container. It is a link-local plain-HTTP server, read from the background reporter thread
only.
"""

from __future__ import annotations

import json
import os

from ..transport.fetch import FetchError, fetch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional, Tuple

V4_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"
V3_VARIABLE = "ECS_CONTAINER_METADATA_URI"
TIMEOUT_S = 2.0
# A metadata document is a few kilobytes; anything far larger is not the endpoint we know.
MAX_BYTES = 4 * 1024 * 1024
_ACCEPT_JSON = {"Accept": "application/json"}


class MetadataError(Exception):
    """The endpoint is missing, unreachable or answered something that is not a document."""


def endpoint_url(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    env = os.environ if environ is None else environ
    for name in (V4_VARIABLE, V3_VARIABLE):
        value = (env.get(name) or "").strip()
        if value:
            return value.rstrip("/")
    return None


def _split(url: str) -> Tuple[str, str]:
    """(host[:port], base path) of a plain ``http://`` URL."""
    if not url.startswith("http://"):
        raise MetadataError(f"unsupported metadata URL scheme: {url[:40]!r}")
    rest = url[len("http://") :]
    host, _, path = rest.partition("/")
    if not host:
        raise MetadataError("metadata URL without a host")
    return host, "/" + path if path else ""


class MetadataClient:
    """GETs JSON documents from one endpoint; a new connection each time (it is local)."""

    def __init__(self, base_url: str, timeout_s: float = TIMEOUT_S) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._host, self._path = _split(base_url)

    def get(self, resource: str = "") -> Dict[str, Any]:
        path = (self._path + ("/" + resource if resource else "")) or "/"
        try:
            body, _ = fetch(self._host, path, _ACCEPT_JSON, self.timeout_s, MAX_BYTES)
        except FetchError as exc:
            raise MetadataError(f"{path}: {exc}") from None
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise MetadataError(f"{path}: invalid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise MetadataError(f"{path}: expected a JSON object")
        return document

    def container(self) -> Dict[str, Any]:
        return self.get("")

    def task(self) -> Dict[str, Any]:
        return self.get("task")

    def stats(self) -> Dict[str, Any]:
        return self.get("stats")
