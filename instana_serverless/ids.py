"""Trace and span identifiers: 64-bit, 16 lower-case hex characters."""

from __future__ import annotations

from os import urandom

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Tuple

HEX_DIGITS = "0123456789abcdefABCDEF"
ZERO_16 = "0" * 16


def new_id() -> str:
    """A random 64-bit id; ``os.urandom`` avoids importing ``random`` on the cold-start path."""
    value = urandom(8).hex()
    return value if value != ZERO_16 else new_id()


def new_id_pair() -> Tuple[str, str]:
    """Two random 64-bit ids (a new trace's id and its first span's) from one ``os.urandom``
    call: the system call costs most of an id. Nothing is kept for later: ids drawn ahead would
    repeat in a forked child or in every sandbox restored from one snapshot."""
    value = urandom(16).hex()
    first, second = value[:16], value[16:]
    return (
        first if first != ZERO_16 else new_id(),
        second if second != ZERO_16 else new_id(),
    )


def is_hex(text: str) -> bool:
    """True when ``text`` is non-empty and made only of hex digits (either case)."""
    return bool(text) and not text.strip(HEX_DIGITS)


def normalize_id(text: str, width: int) -> str | None:
    """Lower-case, left-pad to ``width``; None for anything that is not a non-zero hex id."""
    if not 0 < len(text) <= width or not is_hex(text):
        return None
    value = text.lower().rjust(width, "0")
    return None if value.count("0") == width else value
