"""A local stand-in for the Instana serverless backend, for development and tests.

Run it with ``instana-serverless acceptor`` or ``python -m instana_serverless.acceptor``.
"""

from __future__ import annotations

from .server import MAX_BODY_BYTES, Acceptor
from .tree import render_traces
from .validate import validate_bundle

__all__ = ["MAX_BODY_BYTES", "Acceptor", "render_traces", "validate_bundle"]
