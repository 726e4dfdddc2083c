"""Run a patch when a module gets imported, without ever importing it ourselves.

Importing boto3 costs a cold start hundreds of milliseconds, so instrumentation must wait for
the user's own import. A ``sys.meta_path`` finder sees every import first: for a watched name
it asks the finders behind it for the real spec and wraps its loader so the patch runs right
after the module body. Modules already imported are patched at once.
"""

from __future__ import annotations

import _thread
import sys

from .. import log

# importlib.abc alone costs a cold start ~10 ms (it drags in importlib.resources and pathlib);
# the import system only needs the methods, so the finder and loader are plain classes.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, Callable, Dict, List, Optional, Sequence

    Hook = Callable[[ModuleType], None]
    _LoaderBase = Loader
else:
    _LoaderBase = object

_lock = _thread.RLock()
_pending: Dict[str, List[Hook]] = {}
_finder: Optional[_HookFinder] = None


def _run(hooks: Sequence[Hook], module: ModuleType) -> None:
    for hook in hooks:
        try:
            hook(module)
        except Exception:  # a failed patch leaves the library working, merely untraced
            log.logger().debug("instrumenting %s failed", module.__name__, exc_info=True)


class _HookLoader(_LoaderBase):
    """Delegates to the real loader and runs the hooks once the module body has executed."""

    def __init__(self, loader: Loader, hooks: List[Hook]) -> None:
        self._loader = loader
        self._hooks = hooks

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _run(self._hooks, module)

    def __getattr__(self, name: str) -> Any:
        # get_code, get_resource_reader, is_package…: whatever else importlib or tools ask for.
        return getattr(self._loader, name)


class _HookFinder:
    def __init__(self) -> None:
        self._resolving = _thread._local()

    def find_spec(
        self,
        fullname: str,
        path: Optional[Sequence[str]],
        target: Optional[ModuleType] = None,
    ) -> Optional[ModuleSpec]:
        if fullname not in _pending or getattr(self._resolving, "name", None) == fullname:
            return None
        self._resolving.name = fullname
        try:
            spec = _spec_from_others(self, fullname, path, target)
        except Exception:
            return None  # let the normal machinery find (or fail to find) it as usual
        finally:
            self._resolving.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        with _lock:
            hooks = _pending.pop(fullname, None)
            if not hooks:
                return None
            if not _pending and self in sys.meta_path:
                # Nothing left to wait for: stop costing every later import a lookup. Safe
                # mid-iteration only because returning a spec ends the import system's loop.
                sys.meta_path.remove(self)
        spec.loader = _HookLoader(spec.loader, hooks)
        return spec


def _spec_from_others(
    own: _HookFinder,
    fullname: str,
    path: Optional[Sequence[str]],
    target: Optional[ModuleType],
) -> Optional[ModuleSpec]:
    for finder in list(sys.meta_path):
        if finder is own:
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec: Optional[ModuleSpec] = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` now if ``name`` is imported, else right after its import."""
    global _finder
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _pending.setdefault(name, []).append(hook)
            if _finder is None:
                _finder = _HookFinder()
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            # Imported by another thread between our check and the registration: patch now.
            module = sys.modules.get(name)
            if module is None or getattr(module, "__spec__", None) is None:
                return
            hooks = _pending.pop(name, [])
            if not hooks:
                return
        else:
            hooks = [hook]
    _run(hooks, module)


def forget(name: str) -> None:
    """Drop hooks still waiting for ``name``."""
    with _lock:
        _pending.pop(name, None)
