"""In-process Lambda helpers for the tests: the event fixtures and real ``awslambdaric``
context objects. The Runtime API emulator for out-of-process runs is ``demo.lambda_runtime``."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Optional

from demo.lambda_runtime import ARN

EVENTS = Path(__file__).resolve().parent / "lambda_events"


def load_event(name: str) -> Any:
    with (EVENTS / f"{name}.json").open(encoding="utf-8") as file:
        return json.load(file)


def make_context(
    *,
    arn: str = ARN,
    timeout_ms: int = 30_000,
    client_context: Optional[Dict[str, Any]] = None,
    request_id: Optional[str] = None,
    function_name: str = "orders",
    function_version: str = "7",
) -> Any:
    """A real ``awslambdaric`` ``LambdaContext``, as the runtime builds it per invocation."""
    from awslambdaric.lambda_context import LambdaContext  # type: ignore[import-untyped]

    saved = {
        k: os.environ.get(k) for k in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION")
    }
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = function_name
    os.environ["AWS_LAMBDA_FUNCTION_VERSION"] = function_version
    try:
        return LambdaContext(
            request_id or str(uuid.uuid4()),
            client_context,
            None,
            int(time.time() * 1000) + timeout_ms,
            arn,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
