"""One Cloud Run instance: its identity, its plugins and the send after each request.

Cloud Run's send rule (``CloudRunSendRule``, installed by ``start`` for the core's
``sending.work_done``, docs/CONTRACT.md §3):

- request-based billing (the default): Cloud Run throttles the CPU as soon as no request is in
  flight, so a send that starts after a response completed could sit frozen until the next
  request. Every request sends before its response completes (``after_request``, blocking);
- CPU always allocated (``INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED``): the CPU keeps running
  between requests, so ``after_request`` runs on a background thread after the response and
  the caller waits for nothing.

Metrics ride along at most every ``METRICS_INTERVAL_S`` seconds, in full every 5 minutes and as
changed values in between.

The instance id (``f.e`` and the plugin's entity id) comes from the metadata server. A request
finishing before it is known waits for the fetcher's first answer, at most ``IDENTITY_WAIT_S``
and never more than half the flush timeout (a refused connection ends the wait at once). If the
id is still unknown then, the request's spans leave anyway, with the revision's host id
(``gcp:cloud-run:revision:<K_REVISION>``) as their entity; once the id is known, later flushes
carry it and the plugins follow in full. If the metadata server cannot be read at all, the
revision stands in for good (and a warning says so).

Outside Cloud Run (``K_SERVICE``, ``K_REVISION``, ``K_CONFIGURATION`` not all set, e.g. a local
functions-framework run) no metadata is fetched and requests simply flush.
"""

from __future__ import annotations

import os
import weakref

from .. import log
from ..background_sender import BackgroundSender
from ..client import Client
from ..metrics.process import process_plugin
from ..metrics.schedule import PluginSchedule
from ..platform import is_cloud_run
from ..sending import SendRule, set_rule
from .metadata import (
    FAILED,
    CloudRunEnvironment,
    InstanceMetadata,
    MetadataFetcher,
    MetadataServer,
    metadata_host,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Mapping, Optional

PLUGIN_NAME = "com.instana.plugin.gcp.run.revision.instance"
IDENTITY_WAIT_S = 0.1
METRICS_INTERVAL_S = 5.0


class CloudRunInstance:
    def __init__(
        self,
        environ: Optional[Mapping[str, str]] = None,
        *,
        identity_wait_s: float = IDENTITY_WAIT_S,
        metrics_interval_s: float = METRICS_INTERVAL_S,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.on_cloud_run = is_cloud_run(self.environ)
        self.env = CloudRunEnvironment(self.environ)
        self.identity_wait_s = identity_wait_s
        self.fetcher = MetadataFetcher(MetadataServer(metadata_host(self.environ)))
        self.schedule = PluginSchedule(min_interval_s=metrics_interval_s)
        self.schedule.producers.append(self._plugins)
        self._announced: Optional[weakref.ref[Client]] = None
        self._warned = False
        self._client: Optional[weakref.ref[Client]] = None

    def start(self) -> None:
        if self.on_cloud_run:
            self.fetcher.start()

    @property
    def metadata(self) -> Optional[InstanceMetadata]:
        return self.fetcher.result

    def entity_id(self) -> Optional[str]:
        meta = self.fetcher.result
        if meta is not None and meta.instance_id:
            return meta.instance_id
        if self.fetcher.state == FAILED:
            return self.env.host_id
        return None

    def after_request(self, client: Client) -> None:
        """Flush the request's spans (and metrics when due). Never raises."""
        try:
            if not self.on_cloud_run:
                client.flush()
                return
            self.fetcher.start()  # no-op unless this is a fresh (forked) worker
            if not self.fetcher.done:
                wait_s = min(self.identity_wait_s, client.config.timeout_s / 2)
                self.fetcher.wait_first_attempt(wait_s)
            entity = self.entity_id()
            if entity is None:
                self._flush_as_revision(client)  # never defer a request's spans
                return
            self._announce(client, entity)
            self._client = weakref.ref(client)
            self.schedule.flush(client)
        except Exception as exc:
            log.logger().debug("Cloud Run flush failed: %r", exc)

    def _flush_as_revision(self, client: Client) -> None:
        """Send now, the revision standing in for the instance id not known yet."""
        host_id = self.env.host_id
        if host_id:
            client.set_source("gcp", host_id)
            client.set_host_id(host_id)
        client.flush()

    def _announce(self, client: Client, entity: str) -> None:
        # Checked against the source itself too: a request that started before the id was
        # known may have set the revision after another one announced the instance.
        announced = self._announced is not None and self._announced() is client
        if announced and client.reporter.source.get("e") == entity:
            return
        if self.fetcher.state == FAILED and not self._warned:
            self._warned = True
            log.config_warning(
                f"the GCP metadata server could not be read ({self.fetcher.error}); "
                "reporting with the revision as entity id"
            )
        client.set_source("gcp", entity)
        host_id = self.env.host_id
        if host_id:
            client.set_host_id(host_id)
        self._announced = weakref.ref(client)
        self.schedule.force_full()

    def _plugins(self) -> Iterable[Dict[str, Any]]:
        entity = self.entity_id()
        client = self._client() if self._client is not None else None
        if entity is None or client is None:
            return []
        meta = self.fetcher.result
        data: Dict[str, Any] = {"runtime": "python", "instanceId": entity}
        for key, value in (
            ("region", meta.region if meta else None),
            ("service", self.env.service),
            ("configuration", self.env.configuration),
            ("revision", self.env.revision),
            ("port", self.env.port),
            ("projectId", meta.project_id if meta else None),
            ("numericProjectId", meta.numeric_project_id if meta else None),
        ):
            if value:
                data[key] = value
        plugins: List[Dict[str, Any]] = [{"name": PLUGIN_NAME, "entityId": entity, "data": data}]
        plugins.append(
            process_plugin(
                client.config,
                container_type="gcpCloudRunInstance",
                container=entity,
                host_name=self.env.host_id,
                environ=self.environ,
            )
        )
        return plugins


class CloudRunSendRule(SendRule):
    """Before the response completes, unless the CPU is always allocated (read per send, so
    ``configure(Options(cloud_run_cpu_always_allocated=...))`` applies at once)."""

    def __init__(self) -> None:
        self.background = BackgroundSender(after_request)

    def blocks(self, client: Client) -> bool:
        return not client.config.cloud_run_cpu_always_allocated

    def send(self, client: Client) -> None:
        if not self.blocks(client):
            try:
                self.background.wake(client)
                return
            except Exception as exc:  # no thread to be had: send now rather than never
                log.logger().debug("background sender unavailable: %r", exc)
        after_request(client)


_instance: Optional[CloudRunInstance] = None


def instance() -> CloudRunInstance:
    """The process's instance state, created from ``os.environ`` on first use."""
    global _instance
    found = _instance
    if found is None:
        found = _instance = CloudRunInstance()
    return found


def start() -> None:
    """Begin fetching the metadata (at wrap time, off any request path) and, on Cloud Run,
    install Cloud Run's send rule. Never raises."""
    try:
        found = instance()
        found.start()
        if found.on_cloud_run:
            set_rule(RULE)
    except Exception as exc:
        log.logger().debug("Cloud Run metadata fetch not started: %r", exc)


def after_request(client: Client) -> None:
    instance().after_request(client)


RULE = CloudRunSendRule()


def _reset_for_tests(replacement: Optional[CloudRunInstance] = None) -> None:
    global _instance
    _instance = replacement
    set_rule(None)
