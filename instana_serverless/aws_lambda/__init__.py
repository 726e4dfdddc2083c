"""AWS Lambda: ``@lambda_handler`` and the pieces the layer entry point builds on.

Importing this package imports no AWS library; it costs what our own modules cost.
"""

from __future__ import annotations

from .decorator import lambda_handler

__all__ = ["lambda_handler"]
