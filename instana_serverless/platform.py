"""Which platform the process runs on, from environment variables only (no network, no imports).

Order matters, and each test is strict enough not to misfire on a neighbour:

1. AWS Lambda: ``AWS_LAMBDA_FUNCTION_NAME`` plus the runtime API or a ``AWS_Lambda_*``
   execution environment (a container that merely copies the function name is not Lambda).
2. AWS Fargate: ``AWS_EXECUTION_ENV=AWS_ECS_FARGATE`` (ECS on EC2 says ``AWS_ECS_EC2`` and has a
   host agent of its own).
3. Google Cloud Run (and Cloud Functions gen2, which run on it): ``K_SERVICE``, ``K_REVISION``
   and ``K_CONFIGURATION`` together; Cloud Run *jobs* set none of them.
4. Azure Functions: ``FUNCTIONS_WORKER_RUNTIME``, or ``FUNCTIONS_EXTENSION_VERSION`` together
   with ``WEBSITE_SITE_NAME``.
5. Anything else is generic.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional

LAMBDA = "aws.lambda"
FARGATE = "aws.fargate"
CLOUD_RUN = "gcp.cloud_run"
AZURE = "azure.functions"
GENERIC = "generic"

ALL = (LAMBDA, FARGATE, CLOUD_RUN, AZURE, GENERIC)

NAMES = {
    LAMBDA: "AWS Lambda",
    FARGATE: "AWS Fargate",
    CLOUD_RUN: "Google Cloud Run",
    AZURE: "Azure Functions",
    GENERIC: "generic (no serverless platform recognised)",
}


def _set(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name)
    return isinstance(value, str) and bool(value.strip())


def is_lambda(environ: Mapping[str, str]) -> bool:
    if not _set(environ, "AWS_LAMBDA_FUNCTION_NAME"):
        return False
    execution_env = environ.get("AWS_EXECUTION_ENV") or ""
    return _set(environ, "AWS_LAMBDA_RUNTIME_API") or execution_env.startswith("AWS_Lambda_")


def is_fargate(environ: Mapping[str, str]) -> bool:
    return (environ.get("AWS_EXECUTION_ENV") or "").strip() == "AWS_ECS_FARGATE"


def is_cloud_run(environ: Mapping[str, str]) -> bool:
    return all(_set(environ, name) for name in ("K_SERVICE", "K_REVISION", "K_CONFIGURATION"))


def is_azure_functions(environ: Mapping[str, str]) -> bool:
    if _set(environ, "FUNCTIONS_WORKER_RUNTIME"):
        return True
    return _set(environ, "FUNCTIONS_EXTENSION_VERSION") and _set(environ, "WEBSITE_SITE_NAME")


def detect(environ: Optional[Mapping[str, str]] = None) -> str:
    """One of ``LAMBDA``, ``FARGATE``, ``CLOUD_RUN``, ``AZURE``, ``GENERIC``; never raises."""
    env = os.environ if environ is None else environ
    try:
        if is_lambda(env):
            return LAMBDA
        if is_fargate(env):
            return FARGATE
        if is_cloud_run(env):
            return CLOUD_RUN
        if is_azure_functions(env):
            return AZURE
    except Exception:  # an exotic mapping: generic is the safe answer
        pass
    return GENERIC
