"""The Fargate background reporter: a daemon thread that flushes every second (docs/CONTRACT.md §3).

Each tick: learn who we are from the task metadata endpoint (once; retried with exponential
back-off while it fails), read this container's stats, and flush spans and plugins through a
``PluginSchedule`` (full snapshot every 5 minutes, changed values in between). Until the
identity is known nothing is flushed: spans wait in the client's bounded buffer rather than
leave with a wrong entity id. Task and container documents are re-read with every full
snapshot, stats on every tick.

The thread is restarted after a fork (gunicorn preloads the app in its master and forks the
workers; threads do not survive ``fork``), and a last flush runs at interpreter exit.
"""

from __future__ import annotations

import os
import threading
from time import monotonic

from .. import log
from ..client import Client, describe, get_client
from ..metrics.process import process_plugin
from ..metrics.schedule import FULL_INTERVAL_S, PluginSchedule
from ..sending import SendRule, set_rule
from . import metadata, plugins

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

INTERVAL_S = 1.0
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0


class FargateReporter:
    """Background flushing and metrics for one ECS task container."""

    def __init__(
        self,
        environ: Optional[Mapping[str, str]] = None,
        *,
        interval_s: float = INTERVAL_S,
        full_interval_s: float = FULL_INTERVAL_S,
        backoff_start_s: float = BACKOFF_START_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        client_factory: Callable[[], Client] = get_client,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.interval_s = interval_s
        self.backoff_start_s = backoff_start_s
        self.backoff_max_s = backoff_max_s
        self._client_factory = client_factory
        self._clock = clock
        url = metadata.endpoint_url(self.environ)
        self.metadata = metadata.MetadataClient(url) if url else None
        self.identity: Optional[plugins.Identity] = None
        self.container: Dict[str, Any] = {}
        self.task: Dict[str, Any] = {}
        self.stats: Optional[Dict[str, Any]] = None
        self.failures = 0
        self.ticks = 0
        self._retry_at = 0.0
        self._documents_at: Optional[float] = None
        self._full_interval_s = full_interval_s
        self.schedule = PluginSchedule(full_interval_s=full_interval_s, clock=clock)
        self.schedule.producers.append(self._plugins)
        self._announced: Optional[Client] = None
        self._thread: Optional[threading.Thread] = None
        self._thread_pid = 0
        self._stop = threading.Event()
        self._tick_lock = threading.Lock()
        if self.metadata is None:
            log.config_warning(
                f"{metadata.V4_VARIABLE} and {metadata.V3_VARIABLE} are not set: the Fargate "
                "task cannot be identified, so nothing is reported"
            )

    # -- the thread ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and self._thread_pid == os.getpid() and thread.is_alive()

    def ensure_running(self) -> None:
        """Start the thread unless it runs in this process; cheap enough for every request."""
        if self._thread_pid == os.getpid() and not self._stop.is_set():
            return
        with _start_lock:
            if self.running or self._stop.is_set():
                return
            describe(
                "sending",
                lambda: (
                    f"background: a thread flushes every {self.interval_s:g} s "
                    "(Fargate tasks run long, requests need not wait for the backend)"
                ),
            )
            thread = threading.Thread(target=self._run, name="instana-fargate-reporter")
            thread.daemon = True
            self._thread = thread
            self._thread_pid = os.getpid()
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    # -- one cycle -------------------------------------------------------------------------

    def tick(self) -> bool:
        """One cycle; True when something was flushed and delivered. Never raises."""
        try:
            with self._tick_lock:
                self.ticks += 1
                return self._tick()
        except Exception as exc:  # the thread must survive anything
            log.logger().debug("Fargate reporter cycle failed: %r", exc)
            return False

    def _tick(self) -> bool:
        client = self._client_factory()
        if not client.reporting:
            return False
        if client.profiler is not None:  # a long-running task: profile the whole process
            client.profiler.run_continuously()
        now = self._clock()
        if self._documents_due(now):
            self._read_documents(now)
        if self.identity is None:
            return False  # spans stay buffered until we can say whose they are
        self._announce(client)
        self.stats = self._read_stats()
        return self.schedule.flush(client)

    def _documents_due(self, now: float) -> bool:
        if self.metadata is None or now < self._retry_at:
            return False
        if self.identity is None or self._documents_at is None:
            return True
        return now - self._documents_at >= self._full_interval_s

    def _read_documents(self, now: float) -> None:
        assert self.metadata is not None
        try:
            container = self.metadata.container()
            task = self.metadata.task()
        except metadata.MetadataError as exc:
            self.failures += 1
            delay = min(self.backoff_max_s, self.backoff_start_s * 2 ** (self.failures - 1))
            self._retry_at = now + delay
            log.logger().debug("ECS metadata unavailable, retrying in %.1fs: %s", delay, exc)
            return
        found = plugins.identity(container, task)
        if found is None:
            self.failures += 1
            self._retry_at = now + min(self.backoff_max_s, self.backoff_start_s * 2**self.failures)
            log.logger().debug("ECS metadata lacks the task ARN or container name")
            return
        self.failures = 0
        self.container, self.task = container, task
        self._documents_at = now
        if self.identity is None or self.identity.entity_id != found.entity_id:
            self._announced = None
        self.identity = found

    def _read_stats(self) -> Optional[Dict[str, Any]]:
        if self.metadata is None:
            return None
        try:
            return self.metadata.stats()
        except metadata.MetadataError as exc:
            log.logger().debug("ECS container stats unavailable: %s", exc)
            return None

    def _announce(self, client: Client) -> None:
        if self._announced is client:
            return
        assert self.identity is not None
        client.set_source("aws", self.identity.entity_id)
        client.set_host_id(self.identity.entity_id)
        self._announced = client
        self.schedule.force_full()

    def _plugins(self) -> Iterable[Dict[str, Any]]:
        me = self.identity
        if me is None:
            return []
        config = self._client_factory().config
        found: List[Dict[str, Any]] = []
        task = plugins.task_plugin(self.task, config)
        if task is not None:
            found.append(task)
        found.extend(plugins.container_plugins(self.container, self.task, me))
        found.append(plugins.docker_plugin(self.container, self.stats, me))
        found.append(
            process_plugin(
                config,
                container_type="docker",
                container=me.docker_id,
                host_name=me.task_arn,
                environ=self.environ,
            )
        )
        return found

    def final_flush(self) -> None:
        """At exit: whatever is buffered, if we know whose it is."""
        if self.identity is None or self._stop.is_set():
            return
        if not self._tick_lock.acquire(timeout=self.interval_s + 1.0):
            return
        try:
            client = self._client_factory()
            if client.reporting and len(client.buffer):
                self._announce(client)
                self.schedule.flush(client)
        except Exception:
            pass
        finally:
            self._tick_lock.release()


_start_lock = threading.Lock()
_reporter: Optional[FargateReporter] = None


def start(environ: Optional[Mapping[str, str]] = None) -> FargateReporter:
    """The process's Fargate reporter, started (idempotent; restarts after a fork)."""
    global _reporter
    reporter = _reporter
    if reporter is None:
        with _start_lock:
            reporter = _reporter
            if reporter is None:
                reporter = _reporter = FargateReporter(environ)
                import atexit

                atexit.register(reporter.final_flush)
    reporter.ensure_running()
    return reporter


def ensure_running(client: Optional[Client] = None) -> None:
    """Request hook for the middleware on Fargate: keep the reporter alive, never flush inline."""
    try:
        start()
    except Exception as exc:
        log.logger().debug("Fargate reporter not started: %r", exc)


class FargateSendRule(SendRule):
    """Fargate's rule for the entries instrumentations open (a Kafka or RabbitMQ consumer, a
    gRPC server): the unit of work only keeps the reporter alive; the reporter sends within a
    second, as the task's container. A send of its own would leave without the task's entity
    (the reporter announces it) and cost the worker a backend round trip per message."""

    def blocks(self, client: Client) -> bool:
        return False

    def send(self, client: Client) -> None:
        ensure_running(client)


RULE = FargateSendRule()


def use_send_rule() -> None:
    """Start the reporter and make the entries instrumentations open follow Fargate's rule
    (``instrument()`` and the platform wrappers, on Fargate). Never raises."""
    ensure_running()
    set_rule(RULE)


def _reset_for_tests() -> None:
    global _reporter
    set_rule(None)
    reporter, _reporter = _reporter, None
    if reporter is not None:
        reporter.stop()
