"""Whether this Python is past its end of life, as the Instana collectors' "outdated runtime"
issue tells it: one WARNING at startup, and a line in ``instana-serverless doctor``.

The dates are the CPython release managers' (https://devguide.python.org/versions/): the end
of security fixes, five years after each x.y.0. ``today`` is a ``(year, month, day)`` tuple
injectable for tests; by default the UTC date from ``time`` (``datetime`` costs a cold start
more than this check is worth).
"""

from __future__ import annotations

import sys
from time import gmtime

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

    Date = Tuple[int, int, int]

# (major, minor) -> last day of security support
END_OF_LIFE = {
    (3, 7): (2023, 6, 27),
    (3, 8): (2024, 10, 7),
    (3, 9): (2025, 10, 31),
    (3, 10): (2026, 10, 31),
    (3, 11): (2027, 10, 31),
    (3, 12): (2028, 10, 31),
    (3, 13): (2029, 10, 31),
    (3, 14): (2030, 10, 31),
}

_warned = False


def _today() -> Date:
    now = gmtime()
    return (now.tm_year, now.tm_mon, now.tm_mday)


def _iso(date: Date) -> str:
    return "{:04d}-{:02d}-{:02d}".format(*date)


def exact_version() -> str:
    """``3.12.1``, ``3.14.0rc1``: the interpreter's version as it names itself."""
    return sys.version.split(" ", 1)[0]


def end_of_life(version: Optional[Tuple[int, int]] = None) -> Optional[str]:
    """The end-of-life date of ``version`` (default: this Python) as ``YYYY-MM-DD``, if known."""
    found = END_OF_LIFE.get(version or (sys.version_info[0], sys.version_info[1]))
    return _iso(found) if found else None


def outdated_message(
    version: Optional[Tuple[int, int]] = None,
    today: Optional[Date] = None,
    exact: Optional[str] = None,
) -> Optional[str]:
    """A warning naming the version and its end-of-life date when it is past; else None."""
    major_minor = version or (sys.version_info[0], sys.version_info[1])
    eol = END_OF_LIFE.get(major_minor)
    if eol is None and major_minor < min(END_OF_LIFE):
        eol = min(END_OF_LIFE.values())  # older than the table: long past
    if eol is None or (today or _today()) <= eol:
        return None
    shown = exact or ("{}.{}".format(*major_minor) if version else exact_version())
    return (
        f"Python {shown} reached its end of life on {_iso(eol)} and gets no more security "
        "fixes: move the function to a supported Python runtime"
    )


def warn_if_outdated(today: Optional[Date] = None) -> None:
    """Log the outdated-runtime WARNING, once per process. Never raises."""
    global _warned
    if _warned:
        return
    _warned = True
    try:
        message = outdated_message(today=today)
        if message is not None:
            log.config_warning(message)
    except Exception:  # an informational check must never break the wrapper
        return


def _reset_for_tests() -> None:
    global _warned
    _warned = False
