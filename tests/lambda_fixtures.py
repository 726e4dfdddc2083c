"""Lambda helpers for the tests: the event fixtures, real ``awslambdaric`` context objects and
a clean interpreter importing the layer. The Runtime API emulator for out-of-process runs is
``demo.lambda_runtime``."""

from __future__ import annotations

import json
import os
import subprocess
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


def assert_layer_handler_runs(python: str, layer_python: Path, folder: Path) -> None:
    """What Lambda does with a layer: ``python``, isolated from this environment, imports our
    handler from ``layer_python`` (the layer's ``python/``: a folder or a path into the zip)
    alone and calls a function ``fn.handler`` written to ``folder``; nothing heavy is imported."""
    (folder / "fn.py").write_text("def handler(event, context):\n    return 'from zip'\n")
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import instana_serverless.lambda_layer as l, instana_serverless as i;"
        "assert i.__file__.startswith(sys.argv[1]), i.__file__;"
        "assert 'boto3' not in sys.modules and 'requests' not in sys.modules;"
        "print(l.handler({}, None))"
    )
    result = subprocess.run(
        [python, "-I", "-B", "-c", code, str(layer_python), str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"LAMBDA_HANDLER": "fn.handler", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "from zip"
