"""Turns buffered spans and metrics into bundles and hands them to the transport.

The wire format and the behaviour under faults: docs/CONTRACT.md §3.
"""

from __future__ import annotations

from _thread import allocate_lock
from time import monotonic, time

from . import log
from .buffer import SpanBuffer
from .span import Span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

    from .transport.http import HttpTransport

MAX_BUNDLE_BYTES = 5 * 1024 * 1024
BUNDLE_RESOURCE = "bundle"
# Statuses after which the same bundle may succeed later; anything else 4xx never will.
_RETRYABLE_STATUSES = frozenset((408, 425, 429))
# A refused key: the bundle is fine, the key (or the endpoint's view of it, e.g. while a
# rotated key propagates) is not. The spans are kept, within the buffer's bound, for the flush
# after the key is accepted again.
_KEY_REFUSED_STATUSES = frozenset((401, 403))

if TYPE_CHECKING:
    Plugin = Dict[str, Any]
    PluginSource = Callable[[], Optional[Plugin]]

_encoder: Optional[Callable[[Any], str]] = None

# How deep ``_repaired`` follows nested values; deeper ones become a marker string.
_MAX_REPAIR_DEPTH = 64
# Floats JSON has no token for (a strict parser refuses ``NaN``): sent as strings.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _dumps(value: Any) -> str:
    """Compact, strict JSON; ``json`` is imported at the first flush, not at package import.

    Raises on what strict JSON cannot carry (NaN, keys of other types, cycles) so the caller
    can repair that one value instead of sending a bundle the backend refuses.
    """
    global _encoder
    if _encoder is None:
        import json

        _encoder = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False).encode
    return _encoder(value)


class EncodingProblems:
    """What the slow path of ``encode_bundles`` had to repair or drop, for the reporter's log."""

    __slots__ = ("dropped", "reason", "repaired")

    def __init__(self) -> None:
        self.repaired = 0
        self.dropped = 0
        self.reason = ""

    def note(self, exc: BaseException, dropped: bool) -> None:
        if dropped:
            self.dropped += 1
        else:
            self.repaired += 1
        if not self.reason:
            self.reason = f"{type(exc).__name__}: {_rendered(exc)}"


def _rendered(value: object) -> str:
    """``str(value)``, or a stand-in when the object cannot even describe itself."""
    try:
        return str(value)
    except Exception:
        try:
            return repr(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"


def _repaired(value: Any, depth: int = 0, path: Optional[set[int]] = None) -> Any:
    """A copy of ``value`` that strict JSON can encode: non-finite floats as strings, keys of
    other types and unknown objects as their ``str``, cycles and too-deep nesting cut off."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value - value == 0 else _NON_FINITE[repr(float(value))]
    if not isinstance(value, (dict, list, tuple)):
        return _rendered(value)
    if depth >= _MAX_REPAIR_DEPTH:
        return "<too deeply nested>"
    path = set() if path is None else path
    if id(value) in path:
        return "<cycle>"
    path.add(id(value))
    try:
        if isinstance(value, dict):
            return {
                key if isinstance(key, str) else _repaired_key(key): _repaired(
                    item, depth + 1, path
                )
                for key, item in list(value.items())
            }
        return [_repaired(item, depth + 1, path) for item in list(value)]
    finally:
        path.discard(id(value))


def _repaired_key(key: Any) -> str:
    repaired = _repaired(key)
    return repaired if isinstance(repaired, str) else _dumps(repaired)


def _encode_one(value: Any, problems: Optional[EncodingProblems]) -> Optional[bytes]:
    """``value`` as JSON bytes, repaired if need be; None (dropped, counted) if even that fails."""
    try:
        return _dumps(value).encode()
    except Exception as exc:  # NaN, non-str keys, cycles, a __str__ that raises, ...
        failure: BaseException = exc
    try:
        text = _dumps(_repaired(value)).encode()
    except Exception as exc:  # e.g. a dict changed size while it was being copied
        if problems is not None:
            problems.note(exc, dropped=True)
        return None
    if problems is not None:
        problems.note(failure, dropped=False)
    return text


def encode_bundles(
    spans: List[Dict[str, Any]],
    plugins: List[Plugin],
    limit: int = MAX_BUNDLE_BYTES,
    problems: Optional[EncodingProblems] = None,
) -> List[Tuple[bytes, int]]:
    """Bodies of at most ``limit`` bytes, each with the number of spans it accounts for.

    Plugins go in the first body. A span too big on its own loses its ``data`` (marked as
    trimmed) rather than being dropped: its timing and place in the trace still matter.
    The whole batch is encoded in one go; only when that fails is each span encoded on its
    own, so one value JSON cannot carry is repaired (or its span dropped and counted in
    ``problems``) and never holds the other spans back.
    """
    metrics = {"plugins": plugins}
    try:
        body: Optional[bytes] = _dumps({"spans": spans, "metrics": metrics}).encode()
    except Exception:
        body = None
    if body is not None and len(body) <= limit:
        return [(body, len(spans))]
    metrics_text = _encode_one(metrics, problems) or b'{"plugins":[]}'
    if len(metrics_text) > limit // 2:
        log.logger().warning("metrics plugins exceed half the bundle limit; sending them empty")
        metrics_text = b'{"plugins":[]}'
    empty_text = b'{"plugins":[]}'
    bodies: List[Tuple[bytes, int]] = []
    parts: List[bytes] = []
    size = 0
    # Spans accounted for by the body being built: its parts plus the spans dropped meanwhile,
    # so the reporter requeues exactly the spans of the bodies that were not delivered.
    counted = 0
    for wire in spans:
        counted += 1
        text = _encode_one(wire, problems)
        if text is None:
            continue
        overhead = len(b'{"spans":[],"metrics":}') + len(metrics_text if not bodies else empty_text)
        if len(text) + overhead > limit:
            wire = {**wire, "data": {"trimmed": True, "bytes": len(text)}}
            text = _encode_one(wire, problems)
            if text is None:
                continue
        if parts and size + len(text) + 1 + overhead > limit:
            bodies.append(
                (_assemble(parts, metrics_text if not bodies else empty_text), counted - 1)
            )
            parts, size, counted = [], 0, 1
        parts.append(text)
        size += len(text) + 1
    if parts or not bodies:
        bodies.append((_assemble(parts, metrics_text if not bodies else empty_text), counted))
    elif counted > len(parts):  # spans dropped after the last body was closed
        last_body, last_count = bodies[-1]
        bodies[-1] = (last_body, last_count + counted)
    return bodies


def _assemble(parts: List[bytes], metrics_text: bytes) -> bytes:
    return b'{"spans":[' + b",".join(parts) + b'],"metrics":' + metrics_text + b"}"


class Reporter:
    """Flushes a ``SpanBuffer`` through a lazily created transport.

    Never raises: a down, slow or failing backend costs at most ``timeout_s`` per flush and
    the spans wait in the buffer for the next one.
    """

    def __init__(
        self,
        buffer: SpanBuffer,
        transport_factory: Callable[[], HttpTransport],
        timeout_s: float,
    ) -> None:
        self.buffer = buffer
        self.timeout_s = timeout_s
        self.source: Dict[str, Any] = {"hl": True}
        self.host_id = ""
        self.plugin_sources: List[PluginSource] = []
        self._once_plugins: List[Plugin] = []
        self._transport_factory = transport_factory
        self._transport: Optional[HttpTransport] = None
        self._reported_drops = 0
        # Spans whose data strict JSON could not carry: repaired (sent) or dropped (lost).
        self.repaired_spans = 0
        self.unencodable_spans = 0
        self._key_refused_reported = False
        self._refused_reported = False
        # Delivery state, for the log: one line when it starts failing, one when it recovers,
        # never one per invocation (docs/CONTRACT.md §2, logging).
        self.target = "the Instana endpoint"  # the endpoint as a log line may show it
        self._failing_since: Optional[float] = None
        self._failed_flushes = 0
        self._drops_at_failure = 0
        self._drops_warned = False
        # ``buffer.added`` as read before the last drain whose spans were all delivered.
        self._delivered_through = 0
        # The last delivered request's round trip: a flush with less time left than this
        # does not start one it would likely abandon.
        self._round_trip_s = 0.0
        # One kept-alive connection serves every flush, so flushes from concurrent threads
        # (Azure and Cloud Run run handlers on thread pools) must take turns.
        self._lock = allocate_lock()

    def add_plugin_once(self, plugin: Plugin) -> None:
        """Send ``plugin`` with the next bundle that is accepted (e.g. a cold-start snapshot)."""
        self._once_plugins.append(plugin)

    def _collect_plugins(self) -> List[Plugin]:
        plugins = list(self._once_plugins)
        for source in self.plugin_sources:
            try:
                plugin = source()
            except Exception as exc:  # a metrics bug must not cost the spans
                log.logger().debug("metrics plugin %r failed: %s", source, exc)
                continue
            if plugin is not None:
                plugins.append(plugin)
        return plugins

    def prewarm(self) -> None:
        """Build the transport and open its connection now, for a first flush that costs only
        the POST. Meant for a background thread at init; gives way to a flush in progress."""
        if not self._lock.acquire(False):
            return
        try:
            if self._transport is None:
                self._transport = self._transport_factory()
            self._transport.connect(monotonic() + self.timeout_s)
        except Exception as exc:  # the next flush connects again; nothing is lost
            log.logger().debug("could not open the connection ahead of the first flush: %s", exc)
            if self._transport is not None:
                self._transport.close()
        finally:
            self._lock.release()

    def flush(self) -> bool:
        """Send everything buffered; True when the backend took it all.

        One deadline, counted from this call, bounds the whole flush: the wait for a flush
        in progress on another thread included. A flush that runs out of time keeps its
        spans buffered for the next one, so a caller never waits longer than the bound.

        Flushes from concurrent threads take turns on the one connection; a caller that had
        to wait and finds its spans carried by the flush it waited for is done without a
        request of its own. Without that, eight threads meeting a backend that takes 30 ms
        queue eight requests, the last ones start too close to their deadline, time out after
        the backend took the bundle, and their spans are requeued and arrive twice.
        """
        deadline = monotonic() + self.timeout_s
        added = self.buffer.added  # every span this caller finished is counted here
        if not self._lock.acquire(False):
            if not self._lock.acquire(True, self.timeout_s):
                return False
            if self._delivered_through >= added:
                self._lock.release()
                return True
        try:
            # Read before the drain: what was added up to here is in it (or was sent before).
            mark = self.buffer.added
            spans = self.buffer.drain()
            if spans and deadline - monotonic() < self._round_trip_s:
                # Not enough time left for the backend's usual answer: a request abandoned
                # after the backend took it would send these spans twice. The next flush
                # carries them.
                self.buffer.requeue(spans)
                return False
            try:
                delivered = self._send(spans, deadline)
            except Exception as exc:  # last line of defence: keep the spans, say why in debug
                self.buffer.requeue(spans)
                # Only the type: an exception's text may quote a request, key included.
                log.logger().debug("flush failed unexpectedly: %s", type(exc).__name__)
                return False
            if delivered:
                self._delivered_through = max(self._delivered_through, mark)
            return delivered
        finally:
            self._lock.release()

    def _send(self, spans: List[Span], deadline: float) -> bool:
        plugins = self._collect_plugins()
        if not spans and not plugins:
            return True
        started = monotonic()
        source = self.source
        wires = [span.to_wire(source) for span in spans]
        bodies = self._encode(wires, plugins)
        headers = {"X-Instana-Host": self.host_id}
        if self._transport is None:
            self._transport = self._transport_factory()
        sent = 0
        size = 0
        outcome = ""
        for body, count in bodies:
            delivered, outcome = self._post(body, headers, deadline)
            if not delivered:
                self.buffer.requeue(spans[sent:])
                self._flush_failed(outcome, len(spans) - sent, started)
                return False
            sent += count
            size += len(body)
        del self._once_plugins[: len(self._once_plugins)]
        self._flush_done(len(spans), len(plugins), size, outcome, started)
        return True

    def _flush_done(
        self, spans: int, plugins: int, size: int, outcome: str, started: float
    ) -> None:
        own = log.logger()
        if own.isEnabledFor(log.DEBUG):
            own.debug(
                "flush: %d spans, %d plugins, %d bytes, %s, %.0f ms",
                spans,
                plugins,
                size,
                outcome,
                (monotonic() - started) * 1000,
            )
        if self._failing_since is not None:
            from . import delivery_log

            delivery_log.recovered(self)
        self._log_drops()

    def _flush_failed(self, reason: str, waiting: int, started: float) -> None:
        from . import delivery_log

        delivery_log.failed(self, reason, waiting, started)
        self._log_drops()

    def _post(self, body: bytes, headers: Dict[str, str], deadline: float) -> Tuple[bool, str]:
        """(whether the bundle is done with, the outcome in words for the log)."""
        from .transport.http import TransportError

        assert self._transport is not None
        headers = {**headers, "X-Instana-Time": str(int(time() * 1000))}
        started = monotonic()
        try:
            status = self._transport.post(BUNDLE_RESOURCE, body, headers, deadline)
        except TransportError as exc:
            return False, str(exc) or type(exc).__name__
        # Capped at half the timeout so one slow answer cannot stall every later flush.
        self._round_trip_s = min(monotonic() - started, self.timeout_s / 2)
        outcome = f"HTTP {status}"
        if status < 300:
            self._key_refused_reported = False
            self._refused_reported = False
            return True, outcome
        if status in _KEY_REFUSED_STATUSES:
            if not self._key_refused_reported:  # once per outage, not on every invocation
                self._key_refused_reported = True
                log.logger().error(
                    "the Instana endpoint refused the agent key with HTTP %d (check "
                    "INSTANA_AGENT_KEY and INSTANA_ENDPOINT_URL); spans are kept for a later "
                    "flush, up to the buffer's bound",
                    status,
                )
            return False, outcome
        if status >= 500 or status in _RETRYABLE_STATUSES:
            return False, f"{outcome} from the endpoint"
        # Another 4xx will be refused again however often it is sent: report and move on.
        own = log.logger()
        if not self._refused_reported:  # once until a bundle is accepted again
            self._refused_reported = True
            own.error(
                "the Instana endpoint refused a bundle with HTTP %d (check INSTANA_AGENT_KEY "
                "and INSTANA_ENDPOINT_URL); its spans are discarded",
                status,
            )
        else:
            own.debug("the Instana endpoint refused a bundle with HTTP %d, discarded", status)
        return True, f"{outcome}, spans discarded"

    def _encode(
        self, wires: List[Dict[str, Any]], plugins: List[Plugin]
    ) -> List[Tuple[bytes, int]]:
        problems = EncodingProblems()
        bodies = encode_bundles(wires, plugins, problems=problems)
        if problems.repaired or problems.dropped:
            first = not (self.repaired_spans or self.unencodable_spans)
            self.repaired_spans += problems.repaired
            self.unencodable_spans += problems.dropped
            message = (
                f"span data that JSON cannot carry ({problems.reason}): {problems.repaired} "
                f"repaired, {problems.dropped} spans dropped ({self.repaired_spans} and "
                f"{self.unencodable_spans} so far)"
            )
            # Once at WARNING, shown even under the default level like a configuration
            # problem (it is a bug in what the application puts in spans, worth seeing);
            # then at DEBUG, as a value that recurs on every invocation must not flood.
            if first:
                log.config_warning(message)
            else:
                log.logger().debug("%s", message)
        return bodies

    def _log_drops(self) -> None:
        if self.buffer.dropped != self._reported_drops:
            from . import delivery_log

            delivery_log.dropped(self)

    def reset_after_fork(self) -> None:
        """In a forked child (gunicorn/uwsgi workers, multiprocessing): never share the parent's
        connection, whose bytes would interleave with its own, nor a lock another thread held
        at the fork. Closing our copy of the socket leaves the parent's connection open."""
        self._lock = allocate_lock()
        self.buffer.reset_after_fork()
        self._delivered_through = 0
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
