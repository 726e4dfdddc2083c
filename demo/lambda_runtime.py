"""The Lambda Runtime API emulator lives in the package (``instana_serverless.local``), where
``instana-serverless run-lambda`` uses it; the demo, tests and benchmarks import it here."""

from pathlib import Path

from instana_serverless.local.lambda_runtime import (
    ARN,
    EXTENSION_PREFIX,
    PREFIX,
    Extension,
    Invocation,
    RuntimeAPI,
    Sandbox,
    start_runtime,
)

ROOT = Path(__file__).resolve().parent.parent  # the repository

__all__ = [
    "ARN",
    "EXTENSION_PREFIX",
    "PREFIX",
    "ROOT",
    "Extension",
    "Invocation",
    "RuntimeAPI",
    "Sandbox",
    "start_runtime",
]
