"""Cloud Run identity: ``K_*`` environment variables and the metadata server.

The metadata server (``http://metadata.google.internal/computeMetadata/v1/``, header
``Metadata-Flavor: Google``) knows the project id, numeric project id, region and instance id.
It is read once per instance, on a daemon thread started when a function is wrapped, never on
a request path. Three variables point it elsewhere (emulators, tests), the first one set wins:

1. ``INSTANA_GCP_METADATA_HOST``: ``host[:port]`` (an ``http://`` prefix is tolerated);
2. ``GCE_METADATA_HOST``: ``host[:port]``, what Google's own client libraries read;
3. ``GOOGLE_CLOUD_RUN_METADATA_ENDPOINT``: a URL such as ``http://127.0.0.1:8080``, what the
   official Instana sensors read (they append ``/computeMetadata/v1/...`` to it).

The server speaks plain http only, so an ``https://`` value (or one without a host) is ignored
and the next variable, or the default host, applies.

One request, ``/computeMetadata/v1/?recursive=true``, answers everything:
``{"instance": {"id": "...", "region": "projects/<num>/regions/<region>", ...},
"project": {"projectId": "...", "numericProjectId": 123, ...}}``; values it lacks are then
read one by one (``project/project-id``, ``project/numeric-project-id``,
``instance/region``, ``instance/id``, plain text).
"""

from __future__ import annotations

import os
import threading
from time import sleep

from ..transport.fetch import FetchError, fetch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional

HOST_VARIABLE = "INSTANA_GCP_METADATA_HOST"
# In order of precedence (see the module docstring).
HOST_VARIABLES = (HOST_VARIABLE, "GCE_METADATA_HOST", "GOOGLE_CLOUD_RUN_METADATA_ENDPOINT")
DEFAULT_HOST = "metadata.google.internal"
BASE_PATH = "/computeMetadata/v1/"
FLAVOR = ("Metadata-Flavor", "Google")
TIMEOUT_S = 1.0
ATTEMPTS = 3
RETRY_DELAY_S = 0.25
MAX_BYTES = 1024 * 1024

_SINGLE_PATHS = {
    "project_id": "project/project-id",
    "numeric_project_id": "project/numeric-project-id",
    "region": "instance/region",
    "instance_id": "instance/id",
}


class CloudRunEnvironment:
    """The ``K_*`` variables Cloud Run sets in every container."""

    __slots__ = ("configuration", "port", "revision", "service")

    def __init__(self, environ: Mapping[str, str]) -> None:
        def value(name: str) -> Optional[str]:
            found = (environ.get(name) or "").strip()
            return found or None

        self.service = value("K_SERVICE")
        self.revision = value("K_REVISION")
        self.configuration = value("K_CONFIGURATION")
        self.port = value("PORT")

    @property
    def host_id(self) -> Optional[str]:
        return f"gcp:cloud-run:revision:{self.revision}" if self.revision else None


class InstanceMetadata:
    __slots__ = ("instance_id", "numeric_project_id", "project_id", "region")

    def __init__(
        self,
        instance_id: Optional[str],
        project_id: Optional[str],
        numeric_project_id: Optional[int],
        region: Optional[str],
    ) -> None:
        self.instance_id = instance_id
        self.project_id = project_id
        self.numeric_project_id = numeric_project_id
        self.region = region


class MetadataError(Exception):
    pass


def _host_of(value: str) -> Optional[str]:
    """``host[:port]`` of ``host[:port]`` or of an ``http://host[:port][/path]`` URL."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() != "http":
            return None
        text = rest
    host = text.split("/", 1)[0].strip()
    return host or None


def metadata_host(environ: Optional[Mapping[str, str]] = None) -> str:
    """The metadata server's ``host[:port]``: the first usable variable, else the default."""
    env = os.environ if environ is None else environ
    for variable in HOST_VARIABLES:
        host = _host_of(env.get(variable) or "")
        if host is not None:
            return host
    return DEFAULT_HOST


def _text(value: Any) -> Optional[str]:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, str)):
        text = str(value).strip()
        return text or None
    return None


def _number(value: Optional[str]) -> Optional[int]:
    """The numeric project id as the number it is (the backend expects a JSON number)."""
    if value is None or not value.isdigit() or not value.isascii():
        return None
    return int(value)


def _last_segment(value: Optional[str]) -> Optional[str]:
    """``projects/123/regions/us-central1`` -> ``us-central1``."""
    if value is None:
        return None
    return value.rstrip("/").rsplit("/", 1)[-1] or None


class MetadataServer:
    """GETs from the metadata server; each call its own short-lived connection."""

    def __init__(self, host: str, timeout_s: float = TIMEOUT_S) -> None:
        self.host = host
        self.timeout_s = timeout_s

    def get(self, path: str) -> bytes:
        try:
            body, headers = fetch(
                self.host, BASE_PATH + path, dict((FLAVOR,)), self.timeout_s, MAX_BYTES
            )
        except FetchError as exc:
            raise MetadataError(f"{path}: {exc}") from None
        # Anything without the flavor header is not the metadata server (a proxy, a captive
        # portal) and its answer must not become our identity.
        if headers.get(FLAVOR[0].lower()) != FLAVOR[1]:
            raise MetadataError(f"{path}: response lacks {FLAVOR[0]}: {FLAVOR[1]}")
        return body

    def read(self) -> InstanceMetadata:
        import json  # on the fetcher thread, not on the import path

        found: Dict[str, Optional[str]] = dict.fromkeys(_SINGLE_PATHS)
        body = self.get("?recursive=true")  # unreachable or refusing: no point going on
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            instance = document.get("instance")
            project = document.get("project")
            if isinstance(instance, dict):
                found["instance_id"] = _text(instance.get("id"))
                found["region"] = _last_segment(_text(instance.get("region")))
            if isinstance(project, dict):
                found["project_id"] = _text(project.get("projectId"))
                found["numeric_project_id"] = _text(project.get("numericProjectId"))
        for field, path in _SINGLE_PATHS.items():
            if found[field] is None:
                value = _text(self.get(path).decode("utf-8", "replace"))
                found[field] = _last_segment(value) if field == "region" else value
        return InstanceMetadata(
            found["instance_id"],
            found["project_id"],
            _number(found["numeric_project_id"]),
            found["region"],
        )


PENDING = "pending"
READY = "ready"
FAILED = "failed"


class MetadataFetcher:
    """Reads the metadata once, in the background, and lets requests wait a few ms for it."""

    def __init__(
        self,
        server: MetadataServer,
        *,
        attempts: int = ATTEMPTS,
        retry_delay_s: float = RETRY_DELAY_S,
    ) -> None:
        self.server = server
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s
        self.state = PENDING
        self.result: Optional[InstanceMetadata] = None
        self.error: Optional[str] = None
        self._done = threading.Event()
        self._attempted = threading.Event()  # the first attempt answered or failed
        self._lock = threading.Lock()
        self._thread_pid = 0

    def start(self) -> None:
        """Idempotent; starts again in a forked child whose parent had not finished."""
        if self._done.is_set() or self._thread_pid == os.getpid():
            return
        with self._lock:
            if self._done.is_set() or self._thread_pid == os.getpid():
                return
            self._thread_pid = os.getpid()
            thread = threading.Thread(target=self._run, name="instana-gcp-metadata")
            thread.daemon = True
            thread.start()

    def wait(self, timeout: float) -> Optional[InstanceMetadata]:
        """The metadata if known within ``timeout`` seconds (0 does not wait)."""
        if not self._done.is_set() and timeout > 0:
            self._done.wait(timeout)
        return self.result

    def wait_first_attempt(self, timeout: float) -> Optional[InstanceMetadata]:
        """Like ``wait``, but stops waiting once the first attempt has failed (no retries)."""
        if not self._attempted.is_set() and timeout > 0:
            self._attempted.wait(timeout)
        return self.result

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _run(self) -> None:
        for attempt in range(self.attempts):
            try:
                self.result = self.server.read()
                self.state = READY
                break
            except Exception as exc:
                self.error = str(exc)
                self._attempted.set()
                if attempt + 1 < self.attempts:
                    sleep(self.retry_delay_s * (2**attempt))
        else:
            self.state = FAILED
        self._attempted.set()
        self._done.set()
