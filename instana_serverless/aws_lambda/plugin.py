"""The ``com.instana.plugin.aws.lambda`` snapshot, sent with the first bundle of a sandbox."""

from __future__ import annotations

import os

from .context import FunctionInfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional

PLUGIN_NAME = "com.instana.plugin.aws.lambda"


def _memory_mb(environ: Mapping[str, str]) -> Optional[int]:
    value = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    return int(value) if value.isdigit() else None


def lambda_plugin(
    info: FunctionInfo, environ: Optional[Mapping[str, str]] = None
) -> Dict[str, Any]:
    """The plugin for the function in ``info``; its entity is the qualified ARN."""
    env = os.environ if environ is None else environ
    data: Dict[str, Any] = {
        "arn": info.arn,
        "functionName": info.function_name,
        "functionVersion": info.function_version,
        "runtime": "python",
    }
    extra = {
        "alias": info.alias,
        "region": env.get("AWS_REGION") or None,
        "memorySize": _memory_mb(env),
        "executionEnv": env.get("AWS_EXECUTION_ENV") or None,
        "architecture": os.uname().machine if hasattr(os, "uname") else None,
    }
    data.update({key: value for key, value in extra.items() if value is not None})
    return {"name": PLUGIN_NAME, "entityId": info.arn, "data": data}
