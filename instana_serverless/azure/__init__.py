"""Azure Functions (Python v2 programming model): ``azure_function`` for one function,
``instrument_function_app`` for every function of an app or blueprint.

Importing this package does not import ``azure.functions``.
"""

from __future__ import annotations

from .app import instrument_function_app
from .wrapper import azure_function

__all__ = ["azure_function", "instrument_function_app"]
