"""The three ways a library gets patched, each undone exactly by ``Applied.restore``.

A patch module declares ``PATCHES = {watched module name: (patch, ...)}`` with:

``Method("Class", "method", start, end, inject=None)``
    replaces ``Class.method`` (a nested class as ``"Outer.Inner"``) with ``_wrap.wrap(...)``;
``Function("function", start, end, inject=None)``
    replaces a module-level function (code that did ``from lib import function`` earlier
    keeps the original: prefer methods);
``Install(install, uninstall)``
    for libraries that offer a hook (event listener, interceptor, handler):
    ``install(entry, module)`` returns a handle, ``uninstall(module, handle)`` removes it.

Something already wrapped by us (``__instana_wrapped__``, e.g. by a second copy of this
package) is left alone, so patching is idempotent.
"""

from __future__ import annotations

from ._wrap import wrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Optional

    from ._wrap import End, Inject, Start
    from .registry import Entry

_MISSING = object()


class Applied:
    """One change made to a library, and how to take it back."""

    __slots__ = ("_undo", "what")

    def __init__(self, what: str, undo: Callable[[], None]) -> None:
        self.what = what
        self._undo = undo

    def restore(self) -> None:
        self._undo()


def _owner(module: ModuleType, path: str) -> Any:
    owner: Any = module
    for part in path.split("."):
        owner = getattr(owner, part)
    return owner


def _replace(owner: Any, attr: str, replacement: Callable[[Any], Any], what: str) -> Any:
    """Set ``owner.attr`` to ``replacement(current)``; an Applied that puts back exactly what
    was there (deleting our attribute when the original was inherited)."""
    own = owner.__dict__.get(attr, _MISSING) if hasattr(owner, "__dict__") else _MISSING
    current = getattr(owner, attr)
    if getattr(current, "__instana_wrapped__", False):
        return None
    if isinstance(own, (staticmethod, classmethod)):
        raise TypeError(f"{what}: static and class methods are not supported")
    setattr(owner, attr, replacement(current))

    def undo() -> None:
        if own is _MISSING:
            if attr in owner.__dict__:
                delattr(owner, attr)
        else:
            setattr(owner, attr, own)

    return Applied(what, undo)


class Method:
    __slots__ = ("attr", "end", "inject", "owner", "start")

    def __init__(
        self,
        owner: str,
        attr: str,
        start: Start,
        end: Optional[End] = None,
        inject: Optional[Inject] = None,
    ) -> None:
        self.owner = owner
        self.attr = attr
        self.start = start
        self.end = end
        self.inject = inject

    def apply(self, entry: Entry, module: ModuleType) -> Optional[Applied]:
        owner = _owner(module, self.owner)
        return _replace(  # type: ignore[no-any-return]
            owner,
            self.attr,
            lambda original: wrap(entry, original, self.start, self.end, self.inject),
            f"{module.__name__}.{self.owner}.{self.attr}",
        )


class Function:
    __slots__ = ("attr", "end", "inject", "start")

    def __init__(
        self,
        attr: str,
        start: Start,
        end: Optional[End] = None,
        inject: Optional[Inject] = None,
    ) -> None:
        self.attr = attr
        self.start = start
        self.end = end
        self.inject = inject

    def apply(self, entry: Entry, module: ModuleType) -> Optional[Applied]:
        return _replace(  # type: ignore[no-any-return]
            module,
            self.attr,
            lambda original: wrap(entry, original, self.start, self.end, self.inject),
            f"{module.__name__}.{self.attr}",
        )


class Custom:
    """Replace ``owner.attr`` with ``make(entry, original)``: for a wrapper that is not an exit
    span (e.g. carrying the trace into a thread pool's tasks)."""

    __slots__ = ("attr", "make", "owner")

    def __init__(
        self, owner: str, attr: str, make: Callable[[Entry, Callable[..., Any]], Any]
    ) -> None:
        self.owner = owner
        self.attr = attr
        self.make = make

    def apply(self, entry: Entry, module: ModuleType) -> Optional[Applied]:
        def replacement(original: Any) -> Any:
            wrapper = self.make(entry, original)
            wrapper.__wrapped__ = original
            wrapper.__instana_wrapped__ = True
            return wrapper

        owner = _owner(module, self.owner) if self.owner else module
        where = f"{module.__name__}.{self.owner}" if self.owner else module.__name__
        return _replace(  # type: ignore[no-any-return]
            owner, self.attr, replacement, f"{where}.{self.attr}"
        )


class Install:
    __slots__ = ("install", "uninstall")

    def __init__(
        self,
        install: Callable[[Entry, ModuleType], Any],
        uninstall: Callable[[ModuleType, Any], None],
    ) -> None:
        self.install = install
        self.uninstall = uninstall

    def apply(self, entry: Entry, module: ModuleType) -> Optional[Applied]:
        handle = self.install(entry, module)
        if handle is None:
            return None  # already installed (by us, earlier)

        def undo() -> None:
            self.uninstall(module, handle)

        return Applied(f"{module.__name__}: {entry.name} hook", undo)
