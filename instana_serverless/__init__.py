"""Zero-configuration Instana tracing and metrics for serverless Python functions.

Public API (see README):

- ``lambda_handler``: decorator for AWS Lambda handlers (sync or ``async def``).
- ``azure_function`` / ``instrument_function_app``: Azure Functions, v2 programming model.
- ``cloud_run``: Google Cloud Run / Cloud Functions (functions-framework).
- ``WSGIMiddleware`` / ``ASGIMiddleware``: Flask/FastAPI-style apps on Cloud Run or Fargate.
- ``start_fargate_reporter()``: background reporting for an AWS Fargate task without HTTP.
- ``detect_platform()``: which platform this process runs on (from the environment only).
- ``instrument()``: exit spans for the libraries of ``instrumentation.registry`` (requests,
  httpx, boto3 …) in any other program.
- ``span(name, tags=...)``: a custom span, as a context manager.
- ``entry_span(name, headers=...)``: a generic entry span that flushes when it ends.
- ``flush()``: send buffered spans and metrics now.
- ``configure(Options(...))`` and ``Options``: configuration in code.
- ``current_span()``: the active span, if any.

Platform decorators are imported on first use, so a Lambda function never loads the Azure
or Cloud Run code and the package import stays within a few milliseconds.
"""

from __future__ import annotations

from .api import entry_span, flush, span
from .client import configure
from .config import Options
from .span import Span
from .tracer import current_span

__version__ = "0.1.0"

# name -> module that defines it, imported when the name is first looked up
_LAZY = {
    "lambda_handler": ("instana_serverless.aws_lambda", "lambda_handler"),
    "azure_function": ("instana_serverless.azure", "azure_function"),
    "instrument_function_app": ("instana_serverless.azure", "instrument_function_app"),
    "cloud_run": ("instana_serverless.gcp", "cloud_run"),
    "WSGIMiddleware": ("instana_serverless.middleware", "WSGIMiddleware"),
    "ASGIMiddleware": ("instana_serverless.middleware", "ASGIMiddleware"),
    "start_fargate_reporter": ("instana_serverless.fargate", "start"),
    "detect_platform": ("instana_serverless.platform", "detect"),
    "instrument": ("instana_serverless.wrapping", "instrument"),
}

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .aws_lambda import lambda_handler
    from .azure import azure_function, instrument_function_app
    from .fargate import start as start_fargate_reporter
    from .gcp import cloud_run
    from .middleware import ASGIMiddleware, WSGIMiddleware
    from .platform import detect as detect_platform
    from .wrapping import instrument


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'instana_serverless' has no attribute {name!r}")
    import importlib

    module_name, attribute = where
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "ASGIMiddleware",
    "Options",
    "Span",
    "WSGIMiddleware",
    "__version__",
    "azure_function",
    "cloud_run",
    "configure",
    "current_span",
    "detect_platform",
    "entry_span",
    "flush",
    "instrument",
    "instrument_function_app",
    "lambda_handler",
    "span",
    "start_fargate_reporter",
]
