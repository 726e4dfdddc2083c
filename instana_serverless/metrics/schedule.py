"""When metrics plugins go out, and how much of them: full snapshots and deltas.

Long-running containers report often (Fargate every second, Cloud Run with requests), so
each plugin is sent in full at most every ``full_interval_s`` (5 minutes) and, in between,
with only the values that changed since the last *accepted* bundle. A failed flush commits
nothing, so the next delta still carries every change since the last delivery.

Used by the Fargate and Cloud Run platforms.
"""

from __future__ import annotations

import weakref
from _thread import allocate_lock
from time import monotonic

from .python_runtime import PythonRuntimePlugin

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

    from ..client import Client

    Plugin = Dict[str, Any]
    Producer = Callable[[], Iterable[Plugin]]
    Key = Tuple[str, str]

FULL_INTERVAL_S = 300.0


def diff(new: Dict[str, Any], old: Dict[str, Any]) -> Dict[str, Any]:
    """Keys of ``new`` whose values differ from ``old``; nested objects compared key by key."""
    changed: Dict[str, Any] = {}
    for key, value in new.items():
        if key not in old:
            changed[key] = value
            continue
        previous = old[key]
        if isinstance(value, dict) and isinstance(previous, dict):
            inner = diff(value, previous)
            if inner:
                changed[key] = inner
        elif value != previous:
            changed[key] = value
    return changed


def _key(plugin: Plugin) -> Key:
    return (str(plugin.get("name")), str(plugin.get("entityId")))


class _Slot:
    """One entry in the reporter's plugin sources: hands over what the schedule prepared."""

    __slots__ = ("key", "schedule")

    def __init__(self, schedule: PluginSchedule, key: Key) -> None:
        self.schedule = schedule
        self.key = key

    def __call__(self) -> Optional[Plugin]:
        return self.schedule._prepared.get(self.key)

    def __repr__(self) -> str:
        return f"<plugin slot {self.key[0]} {self.key[1]}>"


class PluginSchedule:
    """Collects plugins from producers and flushes them with the spans, in full or as deltas.

    ``min_interval_s`` spaces metrics out (Cloud Run piggybacks them on request flushes at
    most every few seconds); 0 sends them with every flush.
    """

    def __init__(
        self,
        *,
        full_interval_s: float = FULL_INTERVAL_S,
        min_interval_s: float = 0.0,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.full_interval_s = full_interval_s
        self.min_interval_s = min_interval_s
        self.producers: List[Producer] = []
        self._clock = clock
        self._client: Optional[weakref.ref[Client]] = None
        self._runtime_sources: List[Callable[[], Optional[Plugin]]] = []
        self._slots: Dict[Key, _Slot] = {}
        self._sent: Dict[Key, Dict[str, Any]] = {}
        self._prepared: Dict[Key, Plugin] = {}
        self._full_at: Optional[float] = None
        self._metrics_at: Optional[float] = None
        # Request threads flush concurrently on Cloud Run: prepare, send and commit must not
        # interleave, or one thread would commit plugins another thread's flush never sent.
        self._lock = allocate_lock()

    def _adopt(self, client: Client) -> None:
        """Take over the client's runtime plugin so it follows the same cadence and deltas."""
        if self._client is not None and self._client() is client:
            return
        sources = client.reporter.plugin_sources
        self._runtime_sources = [s for s in sources if isinstance(s, PythonRuntimePlugin)]
        sources[:] = [s for s in sources if not isinstance(s, PythonRuntimePlugin)]
        self._client = weakref.ref(client)
        self._slots = {}
        self._sent = {}
        self._full_at = None
        self._metrics_at = None

    def _collect(self) -> List[Plugin]:
        plugins: List[Plugin] = []
        for producer in self.producers:
            try:
                plugins.extend(producer())
            except Exception:  # one broken plugin must not cost the others or the spans
                continue
        for source in self._runtime_sources:
            try:
                plugin = source()
            except Exception:
                continue
            if plugin is not None:
                plugins.append(plugin)
        return plugins

    def _prepare(self, client: Client, plugins: List[Plugin], full: bool) -> Dict[Key, Plugin]:
        prepared: Dict[Key, Plugin] = {}
        for plugin in plugins:
            key = _key(plugin)
            data = plugin.get("data")
            previous = self._sent.get(key)
            if full or previous is None or not isinstance(data, dict):
                prepared[key] = plugin
            else:
                changed = diff(data, previous)
                if changed:
                    prepared[key] = {**plugin, "data": changed}
            if key not in self._slots:
                slot = _Slot(self, key)
                self._slots[key] = slot
                client.reporter.plugin_sources.append(slot)
        return prepared

    def flush(self, client: Client) -> bool:
        """Flush ``client`` with the plugins due now; True when the backend took it all."""
        with self._lock:
            return self._flush(client)

    def _flush(self, client: Client) -> bool:
        try:
            self._adopt(client)
            now = self._clock()
            due = self._metrics_at is None or now - self._metrics_at >= self.min_interval_s
            full = self._full_at is None or now - self._full_at >= self.full_interval_s
            plugins = self._collect() if due else []
            self._prepared = self._prepare(client, plugins, full) if due else {}
        except Exception:  # metrics trouble never keeps the spans back
            due, full, plugins = False, False, []
            self._prepared = {}
        try:
            delivered = client.flush()
        finally:
            self._prepared = {}
        if delivered and due:
            for plugin in plugins:
                data = plugin.get("data")
                if isinstance(data, dict):
                    self._sent[_key(plugin)] = data
            self._metrics_at = now
            if full:
                self._full_at = now
        return delivered

    def force_full(self) -> None:
        """The next metrics go out in full (e.g. after the identity changed)."""
        self._full_at = None
        self._metrics_at = None
