"""The call stack of an exit span (``stack``: ``[{"c": file, "n": line, "m": function}]``,
innermost first, as the Instana sensors send it).

Taken when the span ends, not when it starts: the caller's frames are the same at both moments
(the call has not returned to them yet), and deciding at the end lets ``error`` look at the
outcome without paying for a walk on every call. Frames are read from ``sys._getframe`` and
the code objects alone: no ``traceback``, no ``linecache``, no source text.

Which frames are kept (``INSTANA_STACK_TRACE_LENGTH``, default 30, at most 40 as official):
our own frames are left out, then the innermost ones are kept, except that the frame of the
user's code that made the call always survives. A "library" frame is one whose file lies in
the standard library or under a ``site-packages`` / ``dist-packages`` directory; the first
frame that is not one is the user's line. When the library's own frames run deeper than the
length allows, the deepest of them go first (the ones nearest the socket say least), the
library frames nearest the user's code stay (they name the API that was called), and the
user's frame and its callers fill the rest.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Any, Dict, List, Optional, Tuple, Union

    Frame = Dict[str, Union[str, int]]

MAX_LENGTH = 40  # the official sensor's hard limit
_MAX_WALK = 200  # how far to look for the user's frame below a deep library

_OURS = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _library_roots() -> Tuple[str, ...]:
    roots = {os.path.dirname(os.__file__) + os.sep}  # the standard library
    for path in sys.path:
        if path.endswith(("site-packages", "dist-packages")):
            roots.add(path + os.sep)
    roots.update(("<frozen ", "<string>"))
    return tuple(sorted(roots))


_LIBRARY = _library_roots()
_SITE_MARKERS = (f"{os.sep}site-packages{os.sep}", f"{os.sep}dist-packages{os.sep}")

# (id of the code, instruction offset) -> the wire frame, or None for our own code; and per
# code id whether it is library code. Every code object described is kept alive in _CODES, so
# an id in these tables can never be recycled for another function while it is cached. All
# three are cleared together past a bound. On the hot path: one subscript per frame.
_FRAMES: Dict[Tuple[int, int], Optional[Frame]] = {}
_LIBRARY_CODE: Dict[int, bool] = {}
_CODES: Dict[int, CodeType] = {}
_CACHE_LIMIT = 4096


def _describe(frame: FrameType) -> Optional[Frame]:
    code = frame.f_code
    if len(_FRAMES) >= _CACHE_LIMIT or len(_CODES) >= _CACHE_LIMIT:
        clear_caches()
    filename = code.co_filename
    wire: Optional[Frame] = None
    if not filename.startswith(_OURS):
        wire = {"c": filename, "n": frame.f_lineno or 0, "m": code.co_name}
    _CODES[id(code)] = code
    _LIBRARY_CODE[id(code)] = filename.startswith(_LIBRARY) or any(
        marker in filename for marker in _SITE_MARKERS
    )
    _FRAMES[(id(code), frame.f_lasti)] = wire
    return wire


def capture(length: int, frame: Optional[FrameType] = None) -> List[Dict[str, Any]]:
    """Up to ``length`` frames of the calling thread's stack (from ``frame``, default the
    caller's), innermost first, ours left out, the user's calling line always among them.
    The frame dicts are shared between spans (never mutated)."""
    if frame is None:
        frame = sys._getframe(1)
    frames: List[Dict[str, Any]] = []
    append = frames.append
    cache = _FRAMES
    library = _LIBRARY_CODE
    # First the library's frames, down to the user's (usually a handful).
    user_at = -1
    walked = 0
    while frame is not None and walked < _MAX_WALK:
        walked += 1
        code_id = id(frame.f_code)
        try:
            wire = cache[(code_id, frame.f_lasti)]
        except KeyError:
            wire = _describe(frame)
        frame = frame.f_back
        if wire is not None:
            append(wire)
            if not library.get(code_id, True):
                user_at = len(frames) - 1
                break
    if user_at < 0:
        return frames[:length]
    start = 0
    if user_at >= length:
        # The user's line lies beyond the cut: drop the deepest library frames first,
        # keeping up to half the length of the library frames nearest the user's code.
        start = user_at - (length - 1) // 2
    remaining = start + length - len(frames)
    # Then the user's frame's callers, as many as the length leaves room for.
    while remaining > 0 and frame is not None:
        try:
            wire = cache[(id(frame.f_code), frame.f_lasti)]
        except KeyError:
            wire = _describe(frame)
        frame = frame.f_back
        if wire is not None:
            append(wire)
            remaining -= 1
    return frames[start:] if start else frames


def clear_caches() -> None:
    """Forget cached frames (past the bound; tests)."""
    _FRAMES.clear()
    _LIBRARY_CODE.clear()
    _CODES.clear()
