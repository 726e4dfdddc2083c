"""The process-wide client: resolved configuration, the span buffer and the reporter.

Platforms plug into it (who is running, extra plugins); it knows no platform itself.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

from . import log, runtime_support
from .buffer import SpanBuffer
from .config import Config, Options, resolve
from .metrics.python_runtime import PythonRuntimePlugin
from .propagation import IncomingContext
from .reporter import Reporter
from .secrets import MASK, mask_url_credentials
from .span import ENTRY, EXIT, Span
from .tracer import activate, restore, start_entry, start_root
from .transport.endpoint import Endpoint, EndpointError, parse_endpoint, shown_url

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

    from .pending_key import PendingKey
    from .profiling.sampler import Profiler
    from .transport.http import HttpTransport


class Client:
    """Everything one process needs to trace and report. Create through ``configure``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.agent_key = config.agent_key
        # No key given but a parameter to read it from: tracing runs while a platform fetches
        # it; the first flush waits for it (at most INSTANA_TIMEOUT), a failure turns tracing off.
        self.pending_key: Optional[PendingKey] = None
        if config.agent_key is None and config.ssm_param_name:
            from .pending_key import PendingKey

            self.pending_key = PendingKey()
        self.buffer = SpanBuffer()
        self.endpoint: Optional[Endpoint] = None
        self.reporter = Reporter(self.buffer, self._make_transport, config.timeout_s)
        self.reporter.plugin_sources.append(PythonRuntimePlugin(config.process_name))
        self.reporting = self._check_endpoint(config)
        # With nothing to report to, spans would only fill memory: trace nothing at all.
        self.tracing = self.reporting and not config.tracing_disabled
        self.w3c_correlation = not config.disable_w3c_trace_correlation
        # Every span ends here: straight into the buffer, or past the filter rules first.
        self.span_filter = config.span_filter
        self.on_finish: Callable[[Span], None] = (
            self.buffer.add if self.span_filter is None else self._finish_filtered
        )
        self._prewarm_started = False
        self._described = False
        if self.endpoint is not None:
            self.reporter.target = shown_url(config.endpoint_url or "")
        # AutoProfile: imported, and its thread started, only when switched on.
        self.profiler: Optional[Profiler] = None
        if config.auto_profile and self.tracing:
            from .profiling.sampler import Profiler

            self.profiler = Profiler(config, self.endpoint)

    @staticmethod
    def _check_endpoint_url(config: Config) -> Optional[Endpoint]:
        if config.endpoint_url is None:
            return None
        try:
            return parse_endpoint(config.endpoint_url)
        except EndpointError as exc:
            # The message quotes the URL: the key pasted into it by mistake (or any
            # credentials in it) must not reach the log.
            message = mask_url_credentials(str(exc))
            key = config.agent_key
            if key:
                message = message.replace(key, MASK).replace(repr(key)[1:-1], MASK)
            log.config_warning(f"{message}; instana_serverless is disabled")
            return None

    def _check_endpoint(self, config: Config) -> bool:
        missing = config.missing
        if missing:
            log.config_warning(
                f"{' and '.join(missing)} not set: instana_serverless is disabled and "
                "functions run untraced"
            )
            return False
        if "://" in (config.agent_key or ""):
            # The two variables swapped: the URL would go out as the key, to a "host" that is
            # the key. Neither value is quoted (one of them is the key).
            log.config_warning(
                "INSTANA_AGENT_KEY holds a URL: INSTANA_AGENT_KEY and INSTANA_ENDPOINT_URL look "
                "swapped; instana_serverless is disabled"
            )
            return False
        self.endpoint = self._check_endpoint_url(config)
        return self.endpoint is not None

    def _make_transport(self) -> HttpTransport:
        from .transport.http import HttpTransport

        if not self.key_ready(self.config.timeout_s):
            raise KeyUnavailable("the agent key is not known yet")
        assert self.endpoint is not None and self.agent_key is not None
        headers = {
            "Content-Type": "application/json",
            "X-Instana-Key": self.agent_key,
            "User-Agent": user_agent(),
        }
        return HttpTransport(
            self.endpoint,
            headers=headers,
            proxy=self.config.endpoint_proxy,
            verify_tls=not self.config.disable_ca_check,
        )

    def key_ready(self, timeout_s: float) -> bool:
        """Whether the agent key is known, waiting up to ``timeout_s`` for a pending one. A
        fetch that failed (it logged why) turns tracing and reporting off for good: what is
        buffered could never be sent."""
        pending = self.pending_key
        if pending is None:
            return self.agent_key is not None
        from .pending_key import settle

        return settle(self, pending, timeout_s)

    def prewarm(self) -> None:
        """Open the backend connection in the background, once per client.

        Platform wrappers call this when they wrap a handler, i.e. during the function's
        init phase: importing ``ssl``, loading CA certificates and the TLS handshake then
        overlap the user's own init instead of delaying the first invocation's flush.
        """
        if not self.reporting or self._prewarm_started:
            return
        self._prewarm_started = True
        import _thread

        _thread.start_new_thread(self.reporter.prewarm, ())

    # -- platform hooks -------------------------------------------------------------------

    def set_source(self, cloud_provider: Optional[str], entity_id: str) -> None:
        """Who reports: the ``f`` of every span, e.g. ("aws", <qualified ARN>)."""
        source: Dict[str, Any] = {"hl": True, "e": entity_id}
        if cloud_provider:
            source["cp"] = cloud_provider
        self.reporter.source = source

    def set_host_id(self, host_id: str) -> None:
        self.reporter.host_id = host_id

    # -- tracing --------------------------------------------------------------------------

    def _finish_filtered(self, span: Span) -> None:
        """A span that ended, dropped when an exclude rule matches all it now knows."""
        span_filter = self.span_filter
        if span_filter is not None and span_filter.drops(span):
            return
        self.buffer.add(span)

    def start_entry(
        self,
        name: str,
        incoming: Optional[IncomingContext] = None,
        *,
        data: Optional[Dict[str, Any]] = None,
        error_path: Tuple[str, ...] = (),
    ) -> Span:
        service = self.config.service_name
        if service and self.tracing:
            data = {} if data is None else data
            data["service"] = service
        recording = self.tracing
        span_filter = self.span_filter
        if recording and span_filter is not None and span_filter.suppresses(name, ENTRY, data):
            recording = False  # the whole trace: this entry, its exits, the services called
        span = start_entry(
            name,
            incoming,
            on_finish=self.on_finish,
            data=data,
            error_path=error_path,
            recording=recording,
        )
        if self.profiler is not None and span.recording:
            self.profiler.begin(span)
        return span

    def start_root_exit(
        self,
        name: str,
        *,
        data: Optional[Dict[str, Any]] = None,
        error_path: Tuple[str, ...] = (),
    ) -> Span:
        """An exit span made outside any entry, as a root (``INSTANA_ALLOW_EXIT_AS_ROOT``).

        It waits in the buffer for the next flush (the next invocation's, the background
        flush of a long-running process), and at the latest for interpreter exit: a script
        that never serves a request still sends its calls.
        """
        _flush_at_exit_once()
        return start_root(name, EXIT, on_finish=self.on_finish, data=data, error_path=error_path)

    def flush(self) -> bool:
        """Send what is buffered now. Never raises; False when something is left for later."""
        if not self.reporting:
            return True
        if self.pending_key is not None and not self.key_ready(self.config.timeout_s):
            return not self.reporting  # failed for good: nothing left to send; else later
        if not self._described:
            self._described = True
            self._log_configuration()
        # The reporter's own request must never become a span of the user's trace.
        token = activate(None)
        try:
            delivered = self.reporter.flush()
            if self.profiler is not None:
                self.profiler.after_flush(self)
            return delivered
        finally:
            restore(token)

    def _log_configuration(self) -> None:
        """One line saying what this process does, at its first flush (when the wrapper has
        decided how spans leave and the handler's imports are patched). INFO, so it shows with
        ``INSTANA_DEBUG`` or ``INSTANA_LOG_LEVEL=info``; never under the default level."""
        own = log.logger()
        if not own.isEnabledFor(log.INFO):
            return
        try:
            own.info("%s", self.configuration_line())
        except Exception as exc:  # a description must never cost a flush
            own.debug("configuration line failed: %r", exc)

    def configuration_line(self) -> str:
        from .configuration_line import configuration_line

        return configuration_line(self)


_describers: Dict[str, Callable[[], str]] = {}


def describe(topic: str, describer: Callable[[], str]) -> None:
    """Register how the configuration line words ``topic``: ``"sending"`` (how spans leave,
    and why) or ``"instrumentations"``. Platform and instrumentation modules call this; the
    core knows neither."""
    _describers[topic] = describer


def described(topic: str) -> str:
    """What the describer registered for ``topic`` says now ("" without one)."""
    describer = _describers.get(topic)
    return describer() if describer is not None else ""


class KeyUnavailable(Exception):
    """The transport cannot be built yet: the agent key is still being fetched."""


def user_agent() -> str:
    """``instana-serverless/<version> python/<x.y.z>``, sent with every bundle."""
    import sys

    from . import __version__

    return f"instana-serverless/{__version__} python/{'.'.join(map(str, sys.version_info[:3]))}"


_lock = allocate_lock()
_client: Optional[Client] = None
# Called with every new client: ``instrument()`` registers itself here, so a handler decorated
# before ``configure(Options(...))`` turned tracing on still gets its exits patched.
_after_configure: List[Callable[[Client], None]] = []


def after_configure(callback: Callable[[Client], None]) -> None:
    """Run ``callback(client)`` after every later ``configure`` (once per callback)."""
    if callback not in _after_configure:
        _after_configure.append(callback)


def configure(
    options: Optional[Options] = None, environ: Optional[Mapping[str, str]] = None
) -> Client:
    """(Re)build the process-wide client from ``options`` and the environment.

    How the two combine: docs/CONTRACT.md §2.
    """
    global _client
    config = resolve(options, environ)
    log.apply(config)
    runtime_support.warn_if_outdated()  # once per process, on the first configuration
    client = Client(config)
    with _lock:
        previous, _client = _client, client
    if previous is not None:
        previous.reporter.close()
        if previous.profiler is not None:
            previous.profiler.stop()
    for callback in list(_after_configure):
        try:
            callback(client)
        except Exception as exc:  # an extra must never break configuring
            log.logger().debug("after configure: %r", exc)
    return client


_exit_flush_registered = False


def _flush_at_exit_once() -> None:
    global _exit_flush_registered
    if _exit_flush_registered:
        return
    _exit_flush_registered = True
    import atexit

    atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    """What root exits left in the buffer leaves before the interpreter does (bounded by
    ``INSTANA_TIMEOUT``, never raising)."""
    client = _client
    if client is None or not len(client.buffer):
        return
    try:
        client.flush()
    except Exception as exc:  # pragma: no cover - flush never raises; belt and braces
        log.logger().debug("flush at exit: %r", exc)


def _after_fork_in_child() -> None:
    global _lock
    _lock = allocate_lock()
    client = _client
    if client is not None:
        client.reporter.reset_after_fork()
        client._prewarm_started = False


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_client() -> Client:
    """The configured client, built from the environment on first use."""
    client = _client
    if client is None:
        with _lock:
            client = _client
        if client is None:
            client = configure()
    return client
