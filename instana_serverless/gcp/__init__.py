"""Google Cloud Run and Cloud Functions (gen2): ``@cloud_run`` for functions-framework functions.

``cloud_run`` is loaded on first access, so importing the package costs nothing extra.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .decorator import cloud_run

__all__ = ["cloud_run"]


def __getattr__(name: str) -> Any:
    if name == "cloud_run":
        from .decorator import cloud_run

        return cloud_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
