"""Exit spans for the libraries functions call; every library is a row of ``registry.ENTRIES``.

``instrument()`` is what the platform wrappers call at wrap time (and what other apps call
once at start-up). It never imports an instrumented library: each row's patch module
(``instrumentation/<name>.py``) is imported and applied when the user's code imports one of
the row's modules, or at once if it already has; calling it again does nothing new.
Disabled names (``INSTANA_TRACING_DISABLE=requests,aws`` or
``Options(disabled_instrumentations=[...])``) are a row's name, an alias or a category; they are
honoured when patching and again on every call, and a later ``configure`` instruments what
became enabled. See docs/INSTRUMENTATION.md.
"""

from __future__ import annotations

import _thread

from . import _imports
from .registry import ENTRIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Callable, Dict, List, Optional, Set, Tuple

    from ..client import Client
    from ._patches import Applied
    from .registry import Entry

_lock = _thread.RLock()
_requested = False
_registered: Set[str] = set()  # entries whose modules are watched (or patched)
_applied: Dict[str, List[Applied]] = {}  # entry name -> changes made to its library
_skipped: Dict[str, str] = {}  # entry name -> why its library was left alone
_said: Set[str] = set()


def parse_version(text: object) -> Optional[Tuple[int, ...]]:
    """The leading numbers of a ``__version__`` ("2.9.9 (dt dec pq3)" -> (2, 9, 9))."""
    if not isinstance(text, str):
        return None
    numbers: List[int] = []
    for part in text.split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(numbers) or None


def too_old(entry: Entry) -> Optional[str]:
    """Why ``entry``'s imported library is not patched, if its version is below the minimum."""
    import sys

    if entry.min_version is None:
        return None
    module = sys.modules.get(entry.version_module)
    version = parse_version(getattr(module, "__version__", None))
    if version is None or version >= entry.min_version:
        return None  # unknown versions are tried: a failed patch leaves the library working
    wanted = ".".join(str(n) for n in entry.min_version)
    found = ".".join(str(n) for n in version)
    return f"{entry.version_module} {found} is older than {wanted}"


def _hook(entry: Entry) -> Callable[[ModuleType], None]:
    def apply(module: ModuleType) -> None:
        from importlib import import_module

        reason = too_old(entry)
        if reason is not None:
            _skipped[entry.name] = reason
            if entry.name not in _said:
                _said.add(entry.name)
                from .. import log

                log.logger().info("instana_serverless: %s not traced: %s", entry.name, reason)
            return
        patches = import_module(f"{__name__}.{entry.name}").PATCHES[module.__name__]
        for patch in patches:
            applied = patch.apply(entry, module)
            if applied is not None:
                with _lock:
                    _applied.setdefault(entry.name, []).append(applied)

    return apply


def instrument(client: Optional[Client] = None) -> None:
    """Instrument the supported libraries that are (or later get) imported; idempotent."""
    global _requested
    try:
        if client is None:
            from ..client import get_client

            client = get_client()
        if not _requested:
            _requested = True
            from ..client import after_configure, describe

            after_configure(_again)
            describe("instrumentations", summary)
        if not client.tracing:
            return  # nothing would ever be recorded: leave the libraries exactly as they are
        disabled = client.config.disabled_instrumentations
        with _lock:
            wanted = [
                entry
                for entry in ENTRIES
                if entry.name not in _registered and entry.keys.isdisjoint(disabled)
            ]
            _registered.update(entry.name for entry in wanted)
        for entry in wanted:
            hook = _hook(entry)
            for module in entry.modules:
                _imports.when_imported(module, hook)
    except Exception:  # instrumentation is an extra; it must never stop the user's function
        from ._common import tracer_bug

        tracer_bug("instrument()")


def _again(client: Client) -> None:
    """After a ``configure``: instrument what the new configuration allows, unless
    ``uninstrument()`` was called since."""
    if _requested:
        instrument(client)


def uninstrument() -> None:
    """Restore every patched library exactly and stop waiting for imports (tests, benches)."""
    global _requested
    with _lock:
        names = [entry for entry in ENTRIES if entry.name in _registered]
        _registered.clear()
        applied = [change for changes in _applied.values() for change in changes]
        _applied.clear()
        _skipped.clear()
        _requested = False
    for entry in names:
        for module in entry.modules:
            _imports.forget(module)
    for change in reversed(applied):
        try:
            change.restore()
        except Exception:
            from ._common import tracer_bug

            tracer_bug(f"restoring {change.what}")


def patched() -> Dict[str, List[str]]:
    """Entry name -> what was changed in its library, in this process."""
    with _lock:
        return {name: [c.what for c in changes] for name, changes in _applied.items() if changes}


def skipped() -> Dict[str, str]:
    """Entry name -> why its imported library was left unpatched, in this process."""
    with _lock:
        return dict(_skipped)


def summary() -> str:
    """What is patched, for the configuration log line: the libraries already imported and
    patched, how many more are patched when imported, and any left alone (too old)."""
    done = patched()
    left_alone = skipped()
    with _lock:
        waiting = [name for name in _registered if name not in done and name not in left_alone]
    text = f"patched {', '.join(sorted(done))}" if done else "none patched yet"
    if waiting:
        text += f", {len(waiting)} more when imported ({', '.join(sorted(waiting))})"
    if left_alone:
        text += f"; left alone: {', '.join(f'{n} ({why})' for n, why in left_alone.items())}"
    return text


__all__ = ["instrument", "patched", "skipped", "summary", "uninstrument"]
