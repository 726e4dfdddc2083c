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

# (code, instruction offset) -> (the code, its wire frame or None for our own code, whether it
# is library code). Bounded; keyed by id() with the code object kept alongside so a recycled
# id never answers for another function. One lookup per frame on the hot path.
_FRAMES: Dict[Tuple[int, int], Tuple[CodeType, Optional[Frame], bool]] = {}
_CACHE_LIMIT = 4096


def _describe(frame: FrameType) -> Tuple[CodeType, Optional[Frame], bool]:
    code = frame.f_code
    filename = code.co_filename
    wire: Optional[Frame] = None
    if not filename.startswith(_OURS):
        wire = {"c": filename, "n": frame.f_lineno or 0, "m": code.co_name}
    library = filename.startswith(_LIBRARY) or any(m in filename for m in _SITE_MARKERS)
    if len(_FRAMES) >= _CACHE_LIMIT:
        _FRAMES.clear()
    described = (code, wire, library)
    _FRAMES[(id(code), frame.f_lasti)] = described
    return described


def capture(length: int, frame: Optional[FrameType] = None) -> List[Dict[str, Any]]:
    """Up to ``length`` frames of the calling thread's stack (from ``frame``, default the
    caller's), innermost first, ours left out, the user's calling line always among them.
    The frame dicts are shared between spans (never mutated)."""
    if frame is None:
        frame = sys._getframe(1)
    frames: List[Dict[str, Any]] = []
    append = frames.append
    get = _FRAMES.get
    # First the library's frames, down to the user's (usually a handful).
    user_at = -1
    walked = 0
    while frame is not None:
        code = frame.f_code
        described = get((id(code), frame.f_lasti))
        if described is None or described[0] is not code:
            described = _describe(frame)
        frame = frame.f_back
        wire = described[1]
        if wire is not None:
            append(wire)
            if not described[2]:
                user_at = len(frames) - 1
                break
        walked += 1
        if walked >= _MAX_WALK:
            break
    if user_at < 0:
        return frames[:length]
    start = 0
    if user_at >= length:
        # The user's line lies beyond the cut: drop the deepest library frames first,
        # keeping up to half the length of the library frames nearest the user's code.
        start = user_at - (length - 1) // 2
    enough = start + length
    # Then the user's frame's callers, as many as the length leaves room for.
    while frame is not None and len(frames) < enough:
        code = frame.f_code
        described = get((id(code), frame.f_lasti))
        if described is None or described[0] is not code:
            described = _describe(frame)
        frame = frame.f_back
        if described[1] is not None:
            append(described[1])
    return frames[start:enough] if start else frames


def clear_caches() -> None:
    """Forget cached frames (tests; code reloaded in place)."""
    _FRAMES.clear()
