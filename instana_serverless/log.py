"""The library's own logging: the ``instana_serverless`` logger or a user-injected one.

``logging`` is imported lazily (it costs milliseconds on a cold start). The root logger is never
touched and no handler is ever added: records propagate to whatever the application configured,
or to Python's last-resort stderr handler.
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


def logger() -> logging.Logger:
    """The injected user logger if one is configured, else ``logging.getLogger(LOGGER_NAME)``."""
    if _injected is not None:
        return _injected  # type: ignore[no-any-return]
    import logging  # lazy: see module docstring

    own = logging.getLogger(LOGGER_NAME)
    if _level_pending:
        _install_level(own)
    return own


def _install_level(own: logging.Logger) -> None:
    """Give our logger the configured level, unless the application set one itself."""
    global _level_pending, _level_set
    _level_pending = False
    if _explicit or own.level in (0, _level_set):
        own.setLevel(_level)
        _level_set = _level


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
