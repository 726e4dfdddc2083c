"""The library's own logging: the ``instana_serverless`` logger or a user-injected one.

``logging`` is imported lazily (it costs milliseconds on a cold start). The root logger is never
touched: records propagate to whatever the application configured. Only when a level was asked
for explicitly (``INSTANA_DEBUG``, ``INSTANA_LOG_LEVEL`` or the same in ``Options``) does our logger
get one stderr handler of its own, which stays silent whenever another handler on our logger or
its ancestors would emit the record (so an application that configures logging later sees no
duplicates). Without those settings nothing is added, and Python's last-resort handler shows
warnings and errors as before.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any, Optional

    from .config import Config

LOGGER_NAME = "instana_serverless"

# Numeric logging levels, duplicated so nothing here needs ``import logging`` up front.
DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40

# Module state, set by ``apply``. Before it runs the level counts as the (non-explicit) default,
# so configuration warnings raised while resolving are still shown.
_injected: Optional[Any] = None
_level: int = ERROR
_explicit: bool = False
_debug: bool = False
# Our logger's level is set when ``logging`` is first needed rather than in ``apply``:
# importing ``logging`` only to set a level nobody reads costs milliseconds of cold start.
_level_pending: bool = False
_level_set: Optional[int] = None
# The stderr handler attached for an explicit level (one per process, see the module docstring).
_fallback: Optional[Any] = None


def logger() -> logging.Logger:
    """The injected user logger if one is configured, else ``logging.getLogger(LOGGER_NAME)``."""
    if _injected is not None:
        return _injected  # type: ignore[no-any-return]
    if _level_pending and not _explicit and "logging" not in sys.modules:
        # Configured without an explicit level, and nobody can have configured a level or
        # handler since (that needs ``logging``), so our logger is about to sit at ERROR:
        # answer below-ERROR calls without importing ``logging`` (failure paths stay cheap).
        return _QUIET  # type: ignore[return-value]
    import logging  # lazy: see module docstring

    own = logging.getLogger(LOGGER_NAME)
    if _level_pending:
        _install_level(own)
    return own


class _Quiet:
    """Stands in for our logger while ``logging`` is not imported and no level was asked for."""

    __slots__ = ()

    def _drop(self, *args: Any, **kwargs: Any) -> None:
        return None

    debug = info = warning = _drop

    def isEnabledFor(self, level: int) -> bool:
        return level >= ERROR

    def _real(self) -> Any:
        import logging  # noqa: F401  (lazy: now ``logger()`` returns the real one)

        return logger()

    def error(self, *args: Any, **kwargs: Any) -> None:
        self._real().error(*args, **kwargs)

    def exception(self, *args: Any, **kwargs: Any) -> None:
        self._real().exception(*args, **kwargs)

    def critical(self, *args: Any, **kwargs: Any) -> None:
        self._real().critical(*args, **kwargs)

    def log(self, level: int, *args: Any, **kwargs: Any) -> None:
        if level >= ERROR:
            self._real().log(level, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # anything else: the real logger
        return getattr(self._real(), name)


_QUIET = _Quiet()


def _install_level(own: logging.Logger) -> None:
    """Give our logger the configured level, unless the application set one itself."""
    global _level_pending, _level_set
    _level_pending = False
    if _explicit or own.level in (0, _level_set):
        own.setLevel(_level)
        _level_set = _level
    if _explicit and _injected is None:
        _attach_fallback(own)
    elif _fallback is not None:
        own.removeHandler(_fallback)


def _attach_fallback(own: logging.Logger) -> None:
    """One stderr handler on our logger, emitting only while no other handler would."""
    global _fallback
    if _fallback is None:
        _fallback = _make_fallback_handler()
    if _fallback not in own.handlers:
        own.addHandler(_fallback)


def _make_fallback_handler() -> logging.Handler:
    import logging  # lazy: see module docstring

    class FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to the current ``sys.stderr`` unless another handler would emit the record."""

        def __init__(self) -> None:
            super().__init__()
            self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

        @property
        def stream(self) -> Any:  # follows redirections of sys.stderr (tests, runtimes)
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

        def handle(self, record: logging.LogRecord) -> bool:
            if _others_would_emit(logging.getLogger(record.name), self):
                return False
            return bool(super().handle(record))

    return FallbackHandler()


def _others_would_emit(start: logging.Logger, handler: object) -> bool:
    """Whether a handler besides ``handler`` is on ``start`` or an ancestor it propagates to."""
    current: Optional[logging.Logger] = start
    while current is not None:
        for found in current.handlers:
            if found is not handler:
                return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def apply(config: Config) -> None:
    """Install the configured logger and level.

    Our named logger always gets ``config.log_level`` (ERROR by default, DEBUG with
    ``INSTANA_DEBUG``). An injected logger belongs to the user: its level is only changed when
    the user asked for a level explicitly through the Instana settings.
    """
    global _injected, _level, _explicit, _debug, _level_pending
    injected = config.logger
    _injected = injected
    _level = config.log_level
    _explicit = config.log_level_explicit
    _level_pending = True
    if injected is None and not _explicit and "logging" not in sys.modules:
        _debug = False  # nobody can have configured our logger yet; settle it on first use
        return
    import logging  # lazy: see module docstring

    own = logging.getLogger(LOGGER_NAME)
    _install_level(own)
    if injected is not None and _explicit:
        injected.setLevel(_level)
    target = injected if injected is not None else own
    _debug = bool(target.isEnabledFor(DEBUG))


def reset() -> None:
    """Forget what ``apply`` installed (for tests and re-initialisation); levels are not reset."""
    global _injected, _level, _explicit, _debug, _level_pending
    _level_pending = False
    if _fallback is not None and "logging" in sys.modules:
        sys.modules["logging"].getLogger(LOGGER_NAME).removeHandler(_fallback)
    _injected = None
    _level = ERROR
    _explicit = False
    _debug = False


def debug_enabled() -> bool:
    """Cheap hot-path check: whether debug logging is on (as of the last ``apply``)."""
    return _debug


def config_warning(message: str, config: Optional[Config] = None) -> None:
    """Report a configuration problem at WARNING level, visibly even under the default level.

    The default level (ERROR) would swallow these, yet a misconfiguration must not go unnoticed:
    unless the user explicitly chose a level above WARNING, the record is handed straight to the
    logger's handlers (and so to the application's handlers or Python's last-resort handler).
    ``config`` lets ``resolve`` apply the settings it is resolving before ``apply`` has run.
    """
    import logging  # lazy: see module docstring

    if config is not None:
        injected: Optional[Any] = config.logger
        level, explicit = config.log_level, config.log_level_explicit
    else:
        injected, level, explicit = _injected, _level, _explicit
    if explicit and level > WARNING:
        return
    if injected is not None:
        # The user's own logger: its configuration decides.
        injected.warning("%s", message)
        return
    target = logging.getLogger(LOGGER_NAME)
    if target.disabled:
        return
    record = target.makeRecord(target.name, logging.WARNING, "(config)", 0, message, (), None)
    target.handle(record)


def state_change(message: str, *, warning: bool) -> None:
    """A change in whether tracing works (delivery failing, recovered, spans dropped): shown
    once per change, and under the default level too, like a configuration problem.

    With a level asked for explicitly, a failure is a WARNING and a recovery INFO, filtered as
    usual. Under the default level both are handed to the handlers as WARNING records, the only
    level Python's last-resort handler prints: a recovery that nobody sees would leave the
    earlier warning standing. ``logging`` is imported only here, when a change happens.
    """
    if warning or not _explicit:
        config_warning(message)
        return
    if _injected is not None:
        _injected.info("%s", message)
        return
    logger().info("%s", message)
