"""Reading one thread's stack: which frames count, what they are called, where the handler is.

A sample is a tuple of ``(id(frame), code)`` pairs from the outermost to the innermost frame.
The frame's id tells two calls of the same function apart (a frame object lives exactly as
long as its call); the code object names the function. Frames of this package are left out
(our wrappers and instrumentation are not the user's time), and so are the frames that were
already on the stack when the entry span started (the runtime loop that calls the handler).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, FrameType
    from typing import Dict, List, Optional, Tuple

    Stack = Tuple[Tuple[int, CodeType], ...]

USER = 0
LIBRARY = 1
OURS = 2
# Python's import machinery (importlib's bootstrap, frozen or not, and import_module): never a
# span of its own. The module being imported runs as a ``<module>`` frame below it, which
# stands for the whole import (``import <module>``, at the importing line).
IMPORT = 3
MODULE_CODE = "<module>"

# Deeper stacks are cut on the outer side: the frames near the handler are the ones that say
# where its time went. A bound keeps one sample's cost bounded under deep recursion.
MAX_WALK = 256
# Code objects seen; exec'd or generated code could otherwise grow this without end.
MAX_CODES = 20_000

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_STDLIB_DIR = os.path.dirname(os.__file__) + os.sep
_LIBRARY_MARKERS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
_IMPORTLIB_DIR = os.path.join(os.path.dirname(os.__file__), "importlib") + os.sep
_FROZEN_IMPORT = ("<frozen importlib.", "<frozen zipimport>")


class CodeInfo:
    """What a profile and an inferred span say about one function."""

    __slots__ = ("file", "kind", "line", "name")

    def __init__(self, name: str, file: str, line: int, kind: int) -> None:
        self.name = name
        self.file = file
        self.line = line
        self.kind = kind


def _kind(filename: str) -> int:
    if filename.startswith(_FROZEN_IMPORT):
        return IMPORT
    path = filename if os.path.isabs(filename) else os.path.abspath(filename)
    if path.startswith(_IMPORTLIB_DIR):
        return IMPORT
    if path.startswith(_PACKAGE_DIR):
        return OURS
    if (
        path.startswith(_STDLIB_DIR)
        or filename.startswith("<frozen")
        or any(marker in path for marker in _LIBRARY_MARKERS)
    ):
        return LIBRARY
    return USER


class Codes:
    """Names and kinds of code objects, computed once per function (on the sampler thread)."""

    __slots__ = ("_infos",)

    def __init__(self) -> None:
        self._infos: Dict[CodeType, CodeInfo] = {}

    def info(self, code: CodeType, frame: Optional[FrameType] = None) -> CodeInfo:
        found = self._infos.get(code)
        if found is not None:
            return found
        module = frame.f_globals.get("__name__") if frame is not None else None
        qualname = getattr(code, "co_qualname", code.co_name)  # Python 3.11+
        name = f"{module}.{qualname}" if isinstance(module, str) and module else qualname
        if code.co_name == MODULE_CODE:  # a module's top level runs once: its import
            name = f"import {module}" if isinstance(module, str) and module else "import"
        found = CodeInfo(name, code.co_filename, code.co_firstlineno, _kind(code.co_filename))
        if len(self._infos) >= MAX_CODES:
            self._infos.clear()
        self._infos[code] = found
        return found

    def clear(self) -> None:
        self._infos.clear()


def base_of(frame: Optional[FrameType]) -> Dict[int, CodeType]:
    """The frames on the stack now, by id: a sample stops when it reaches one of them."""
    base: Dict[int, CodeType] = {}
    while frame is not None:
        base[id(frame)] = frame.f_code
        frame = frame.f_back
    return base


def walk(
    frame: Optional[FrameType], base: Optional[Dict[int, CodeType]], codes: Codes
) -> Tuple[Stack, int, Tuple[FrameType, ...]]:
    """The stack below ``base`` without our frames, outermost first; how many of its outer
    frames are the handler itself (see ``handler_depth``); and the frame objects.

    Ids tell calls apart only while their frames live: the caller keeps the frame objects of
    the previous sample until the next one, so a frame id seen twice in a row is one call, not
    a new call of the same function that got the freed frame's address.
    """
    frames: List[Tuple[int, CodeType]] = []
    objects: List[FrameType] = []
    called_by_ours: List[bool] = []
    previous_kept = False
    depth = 0
    while frame is not None and depth < MAX_WALK:
        code = frame.f_code
        if base is not None and base.get(id(frame)) is code:
            break
        info = codes.info(code, frame)
        if info.kind == IMPORT:
            pass  # transparent: the import shows as the imported module's frame
        elif info.kind == OURS:
            if previous_kept:
                called_by_ours[-1] = True
            previous_kept = False
        else:
            frames.append((id(frame), code))
            objects.append(frame)
            called_by_ours.append(False)
            previous_kept = True
        frame = frame.f_back
        depth += 1
    frames.reverse()
    called_by_ours.reverse()
    return tuple(frames), handler_depth(frames, called_by_ours, codes), tuple(objects)


def importer_of(module_frame: FrameType, codes: Codes) -> Optional[Tuple[str, int]]:
    """The file and line that imported the module ``module_frame`` runs: the nearest caller
    outside the import machinery and this package."""
    frame = module_frame.f_back
    while frame is not None and codes.info(frame.f_code, frame).kind in (IMPORT, OURS):
        frame = frame.f_back
    if frame is None:
        return None
    return frame.f_code.co_filename, frame.f_lineno


def handler_depth(
    frames: List[Tuple[int, CodeType]], called_by_ours: List[bool], codes: Codes
) -> int:
    """How many outer frames are the unit of work the entry span already stands for.

    When our wrapper calls the user's function, that function (and any framework or event
    loop frames between our call and it) ran for the whole invocation: the entry span says
    that already. Everything below it is what inferred spans explain. When the entry span was
    opened by the user's own code (``with entry_span(...)``), that code is below the base and
    nothing is skipped.
    """
    if not frames or not called_by_ours[0]:
        return 0
    depth = 0
    total = len(frames)
    while depth < total and codes.info(frames[depth][1]).kind == LIBRARY:
        depth += 1
    if depth < total:
        depth += 1  # the user's handler
    return depth
