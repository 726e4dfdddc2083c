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

How it stays cheap (an exit span is taken on every call): the same call sites give the same
stacks over and over, so the walks already made are kept as a tree, one node per path of
frames from the innermost one (a node's children keyed by the next frame's instruction
offset, then checked to be the same code object by identity). Walking a known stack is then
three attribute reads (offset, code, caller), one dict subscript and an identity check per
frame, with nothing built; the node where the kept frames are complete holds the finished
list, shared by every span that takes that path (never mutated). Only a new path describes
frames and decides. The tree is bounded; once full, a stack it does not know is taken by
looking each frame up (described once per code and offset), about what it cost before.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Any, Dict, List, Optional, Tuple, Union

    Frame = Dict[str, Union[str, int]]
    Stack = List[Dict[str, Any]]
    # a node: instruction offset -> (code, child node, the finished stack or None); the
    # node's path under _PATH (index of the user's frame among the frames kept or -1,
    # frames walked, frames kept), the stack if the walk ends there under _END, and the
    # children whose offset another code object already took under _CLASHES
    Node = Dict[Any, Any]
    Entry = Tuple[CodeType, Node, Optional[Stack]]

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

# Keys of a node besides instruction offsets (which are ints).
_PATH = "path"
_END = "end"
_CLASHES = "clashes"

# length -> root node; (id of a code, offset) -> its wire frame and whether it is library
# code. A code object in the tree is held by its entry, one in _FRAMES by _CODES, so an id
# in _CLASHES or _FRAMES is never recycled while it is cached. No node points back at its
# parent (no reference cycles). Both are bounded (below).
_ROOTS: Dict[int, Node] = {}
_FRAMES: Dict[Tuple[int, int], Tuple[Optional[Frame], bool]] = {}
_CODES: Dict[int, CodeType] = {}
_CACHE_LIMIT = 4096  # frames described
_NODE_LIMIT = 2048  # nodes in the tree (~0.5 KB each with the stacks they finish)
_REFILL_AFTER = 10000  # plain walks while the tree is full before it starts again
_NODES = [0, 0]  # nodes made, plain walks since the tree filled


def _describe(frame: FrameType) -> Tuple[Optional[Frame], bool]:
    """The wire frame (None for our own code) and whether it is library code."""
    code = frame.f_code
    key = (id(code), frame.f_lasti)
    known = _FRAMES.get(key)
    if known is not None:
        return known
    if len(_FRAMES) >= _CACHE_LIMIT:
        _FRAMES.clear()
        _CODES.clear()
    filename = code.co_filename
    wire: Optional[Frame] = None
    if not filename.startswith(_OURS):
        wire = {"c": filename, "n": frame.f_lineno or 0, "m": code.co_name}
    library = filename.startswith(_LIBRARY) or any(marker in filename for marker in _SITE_MARKERS)
    _CODES[id(code)] = code
    _FRAMES[key] = described = (wire, library)
    return described


def _kept(length: int, wires: List[Frame], user_at: int) -> Stack:
    """The frames sent of a finished walk's ``wires`` (ours already left out)."""
    if user_at < 0:
        return wires[:length]
    start = 0
    if user_at >= length:
        # The user's line lies beyond the cut: drop the deepest library frames first,
        # keeping up to half the length of the library frames nearest the user's code.
        start = user_at - (length - 1) // 2
    return wires[start : start + length]


def _cut(length: int, first: FrameType, walked: int, user_at: int) -> Stack:
    """The frames sent of a walk of ``walked`` frames from ``first``: read again from the
    frames (their descriptions cached), once per new path, so that a node need not point
    back at its parent."""
    wires: List[Frame] = []
    frame: Optional[FrameType] = first
    while frame is not None and walked > 0:
        wire = _describe(frame)[0]
        if wire is not None:
            wires.append(wire)
        frame = frame.f_back
        walked -= 1
    return _kept(length, wires, user_at)


def _walk(length: int, frame: Optional[FrameType]) -> Stack:
    """The frames sent, by a walk that looks every frame up (described once, cached): for a
    stack the tree has no room for."""
    wires: List[Frame] = []
    append = wires.append
    frames = _FRAMES
    user_at = -1
    walked = 0
    needed = 0
    while frame is not None:
        try:
            wire, library = frames[(id(frame.f_code), frame.f_lasti)]
        except KeyError:
            wire, library = _describe(frame)
        walked += 1
        if wire is not None:
            append(wire)
            if user_at < 0 and not library:
                user_at = len(wires) - 1
                needed = (user_at - (length - 1) // 2 if user_at >= length else 0) + length
        if user_at >= 0:
            if len(wires) >= needed:
                break
        elif walked >= _MAX_WALK:
            break
        frame = frame.f_back
    return _kept(length, wires, user_at)


def _root(length: int) -> Node:
    root = _ROOTS.get(length)
    if root is None:
        root = _ROOTS[length] = {_PATH: (-1, 0, 0)}
    return root


def _grow(node: Node, frame: FrameType, length: int, first: FrameType) -> Optional[Entry]:
    """The entry for ``frame`` below ``node`` (on the walk from ``first``): found among the
    clashes or made. None when the tree is full: then the caller walks the plain way, and
    after _REFILL_AFTER such walks the tree starts again, so that it comes to hold the
    stacks taken now rather than the first ones (a program with more distinct stacks than
    the tree holds pays about what it would without the tree)."""
    code = frame.f_code
    lasti = frame.f_lasti
    clashes: Optional[Dict[Tuple[int, int], Entry]] = node.get(_CLASHES)
    if clashes is not None:
        found = clashes.get((id(code), lasti))
        if found is not None:
            return found
    if _NODES[0] >= _NODE_LIMIT:
        _NODES[1] += 1
        if _NODES[1] >= _REFILL_AFTER:
            _ROOTS.clear()  # a walk under way keeps its own nodes: they stay correct
            _NODES[0] = _NODES[1] = 0
        return None
    wire, library = _describe(frame)
    user_at, walked, kept = node[_PATH]
    walked += 1
    if wire is not None:
        kept += 1
        if user_at < 0 and not library:
            user_at = kept - 1
    child: Node = {_PATH: (user_at, walked, kept)}
    finished: Optional[Stack] = None
    if user_at >= 0:
        start = user_at - (length - 1) // 2 if user_at >= length else 0
        if kept >= start + length:
            finished = _cut(length, first, walked, user_at)
    elif walked >= _MAX_WALK:
        finished = _cut(length, first, walked, user_at)
    entry: Entry = (code, child, finished)
    _NODES[0] += 1
    if lasti not in node:
        node[lasti] = entry
    else:
        node.setdefault(_CLASHES, {})[(id(code), lasti)] = entry
    return entry


def _ended(node: Node, length: int, first: FrameType) -> Stack:
    """The stack of a walk from ``first`` that ran out of frames at ``node``."""
    stack: Optional[Stack] = node.get(_END)
    if stack is None:
        user_at, walked, _ = node[_PATH]
        stack = node[_END] = _cut(length, first, walked, user_at)
    return stack


def capture(length: int, frame: Optional[FrameType] = None) -> Stack:
    """Up to ``length`` frames of the calling thread's stack (from ``frame``, default the
    caller's), innermost first, ours left out, the user's calling line always among them.
    The list and its frame dicts are shared between spans (never mutated)."""
    if frame is None:
        frame = sys._getframe(1)
    first = frame
    node = _ROOTS.get(length) or _root(length)
    code: Optional[CodeType]
    child: Node
    finished: Optional[Stack]
    while frame is not None:
        try:
            code, child, finished = node[frame.f_lasti]
        except KeyError:
            code = None
        if code is not frame.f_code:
            entry = _grow(node, frame, length, first)
            if entry is None:
                return _walk(length, first)
            code, child, finished = entry
        if finished is not None:
            return finished
        node = child
        frame = frame.f_back
    return _ended(node, length, first)


def clear_caches() -> None:
    """Forget the walks and frames described (past the bound; tests)."""
    _ROOTS.clear()
    _FRAMES.clear()
    _CODES.clear()
    _NODES[0] = _NODES[1] = 0
