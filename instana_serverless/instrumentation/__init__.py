"""Exit spans for outgoing calls: requests/urllib3 and boto3/botocore.

``instrument()`` is what the platform wrappers call at wrap time (and what other apps call
once at start-up). It never imports the instrumented libraries: each patch is applied when
the user's code imports the library, or at once if it already has; calling it again does
nothing new. Disabled names (``INSTANA_TRACING_DISABLE=requests,boto3`` or
``Options(disabled_instrumentations=[...])``): ``requests`` or ``urllib3`` for HTTP, ``boto3``
or ``botocore`` for AWS. They are honoured when patching and again on every call, so a later
``configure`` takes effect as well.
"""

from __future__ import annotations

import _thread

from . import _imports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Callable, Dict, FrozenSet, Optional, Set, Tuple

    from ..client import Client

# name -> (module to wait for, names that disable it); the patch modules are imported only
# when their library is, so instrument() itself stays cheap on a cold start.
_TARGETS: Dict[str, Tuple[str, FrozenSet[str]]] = {
    "urllib3_": ("urllib3.connectionpool", frozenset(("urllib3", "requests"))),
    "botocore_": ("botocore.client", frozenset(("boto3", "botocore"))),
    "s3transfer_": ("s3transfer.futures", frozenset(("boto3", "botocore"))),
}

_lock = _thread.allocate_lock()
_registered: Set[str] = set()


def _hook(patch_module: str) -> Callable[[ModuleType], None]:
    def apply(module: ModuleType) -> None:
        from importlib import import_module

        import_module(f"{__name__}.{patch_module}").patch(module)

    return apply


def instrument(client: Optional[Client] = None) -> None:
    """Instrument the supported libraries that are (or later get) imported; idempotent."""
    try:
        if client is None:
            from ..client import get_client

            client = get_client()
        if not client.tracing:
            return  # nothing would ever be recorded: leave the libraries exactly as they are
        disabled = client.config.disabled_instrumentations
        with _lock:
            wanted = [
                (name, module)
                for name, (module, names) in _TARGETS.items()
                if name not in _registered and names.isdisjoint(disabled)
            ]
            _registered.update(name for name, _ in wanted)
        for name, module in wanted:
            _imports.when_imported(module, _hook(name))
    except Exception:  # instrumentation is an extra; it must never stop the user's function
        from ._common import tracer_bug

        tracer_bug("instrument()")


def uninstrument() -> None:
    """Restore the original library functions (tests and benchmarks compare both)."""
    import sys

    with _lock:
        names = list(_registered)
        _registered.clear()
    for name in names:
        module_name = _TARGETS[name][0]
        _imports.forget(module_name)
        patch_module = sys.modules.get(f"{__name__}.{name}")
        if patch_module is not None:
            patch_module.unpatch()


__all__ = ["instrument", "uninstrument"]
