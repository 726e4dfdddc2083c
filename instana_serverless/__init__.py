"""Zero-configuration Instana tracing and metrics for serverless Python functions.

Public API (see README):

- ``span(name, tags=...)``: a custom span, as a context manager.
- ``entry_span(name, headers=...)``: a generic entry span that flushes when it ends.
- ``flush()``: send buffered spans and metrics now.
- ``configure(Options(...))`` and ``Options``: configuration in code (DESIGN §2).
- ``current_span()``: the active span, if any.
"""

from __future__ import annotations

from .api import entry_span, flush, span
from .client import configure
from .config import Options
from .span import Span
from .tracer import current_span

__version__ = "0.1.0"

__all__ = [
    "Options",
    "Span",
    "__version__",
    "configure",
    "current_span",
    "entry_span",
    "flush",
    "span",
]
