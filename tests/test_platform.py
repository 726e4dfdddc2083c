"""Platform detection from environment variables: the right answer, and no misfires."""

from __future__ import annotations

import os
from typing import Dict

import pytest

from instana_serverless.platform import AZURE, CLOUD_RUN, FARGATE, GENERIC, LAMBDA, detect
from tests.modules import modules_loaded_by

LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "orders",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
}
LAMBDA_CUSTOM_RUNTIME = {"AWS_LAMBDA_FUNCTION_NAME": "orders", "AWS_LAMBDA_RUNTIME_API": "x:1"}
FARGATE_ENV = {
    "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
    "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc",
}
CLOUD_RUN_ENV = {
    "K_SERVICE": "shop",
    "K_REVISION": "shop-00001-abc",
    "K_CONFIGURATION": "shop",
    "PORT": "8080",
}
AZURE_ENV = {"FUNCTIONS_WORKER_RUNTIME": "python", "WEBSITE_SITE_NAME": "shop-app"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (LAMBDA_ENV, LAMBDA),
        (LAMBDA_CUSTOM_RUNTIME, LAMBDA),
        (FARGATE_ENV, FARGATE),
        (CLOUD_RUN_ENV, CLOUD_RUN),
        (AZURE_ENV, AZURE),
        ({"FUNCTIONS_EXTENSION_VERSION": "~4", "WEBSITE_SITE_NAME": "app"}, AZURE),
        ({}, GENERIC),
        ({"PATH": "/usr/bin", "HOME": "/root"}, GENERIC),
    ],
)
def test_detects_each_platform(environ: Dict[str, str], expected: str) -> None:
    assert detect(environ) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        # A function name copied into a container is not Lambda.
        ({"AWS_LAMBDA_FUNCTION_NAME": "orders"}, GENERIC),
        ({**FARGATE_ENV, "AWS_LAMBDA_FUNCTION_NAME": "orders"}, FARGATE),
        # Lambda beats everything else it might share variables with.
        ({**LAMBDA_ENV, **CLOUD_RUN_ENV, **AZURE_ENV}, LAMBDA),
        # ECS on EC2 is not Fargate; the metadata URI alone is not Fargate either.
        ({"AWS_EXECUTION_ENV": "AWS_ECS_EC2", "ECS_CONTAINER_METADATA_URI_V4": "x"}, GENERIC),
        ({"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc"}, GENERIC),
        ({**FARGATE_ENV, **CLOUD_RUN_ENV}, FARGATE),
        # Cloud Run needs all three K_* variables; Cloud Run jobs have none of them.
        ({"K_SERVICE": "shop"}, GENERIC),
        ({"K_SERVICE": "shop", "K_REVISION": "r"}, GENERIC),
        ({"CLOUD_RUN_JOB": "nightly", "CLOUD_RUN_EXECUTION": "n-1"}, GENERIC),
        ({**CLOUD_RUN_ENV, **AZURE_ENV}, CLOUD_RUN),
        # Empty or blank values count as unset.
        ({"K_SERVICE": "", "K_REVISION": " ", "K_CONFIGURATION": "c"}, GENERIC),
        ({"AWS_LAMBDA_FUNCTION_NAME": " ", "AWS_LAMBDA_RUNTIME_API": "x"}, GENERIC),
        # App Service without Functions is not Azure Functions.
        ({"WEBSITE_SITE_NAME": "plain-web-app"}, GENERIC),
    ],
)
def test_never_misfires(environ: Dict[str, str], expected: str) -> None:
    assert detect(environ) == expected


def test_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "K_", "FUNCTIONS_", "WEBSITE_", "ECS_")):
            monkeypatch.delenv(name)
    assert detect() == GENERIC
    for name, value in CLOUD_RUN_ENV.items():
        monkeypatch.setenv(name, value)
    assert detect() == CLOUD_RUN


def test_broken_mapping_is_generic() -> None:
    class Broken(dict):  # type: ignore[type-arg]
        def get(self, *args: object, **kwargs: object) -> str:
            raise RuntimeError("boom")

    assert detect(Broken()) == GENERIC


def test_detection_imports_nothing_heavy() -> None:
    code = "from instana_serverless.platform import detect\ndetect()"
    heavy = ("http.client", "ssl", "socket", "logging", "boto3", "flask")
    assert modules_loaded_by(code, names=heavy) == []
