"""Who is running: the qualified ARN, alias and version of this function, and cold starts.

A sandbox runs one version of one function, so the ARN work is done once per invoked ARN and
cached; the per-invocation cost is a dict lookup.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

LATEST = "$LATEST"
# An unqualified function ARN: arn:aws:lambda:<region>:<account>:function:<name>
_UNQUALIFIED_PARTS = 7
_MAX_CACHED = 16

_qualified: Dict[Tuple[str, str], Tuple[str, Optional[str]]] = {}
_cold = True


def qualify(invoked_arn: str, version: str) -> Tuple[str, Optional[str]]:
    """(qualified ARN, alias or None) for the ARN the function was invoked with.

    Unqualified ARNs get ``:<version>`` appended; an alias is split off and replaced by the
    version actually running, so every invocation of one version reports one entity.
    """
    parts = invoked_arn.split(":")
    if len(parts) == _UNQUALIFIED_PARTS:
        return f"{invoked_arn}:{version}", None
    if len(parts) == _UNQUALIFIED_PARTS + 1:
        qualifier = parts[-1]
        if qualifier == LATEST or qualifier.isdigit():
            return invoked_arn, None
        base = invoked_arn[: -len(qualifier) - 1]
        return f"{base}:{version}", qualifier or None
    return invoked_arn, None  # not an ARN we understand: reported as given


class FunctionInfo:
    """What ``data.lambda`` and the source need from the Lambda context, read defensively."""

    __slots__ = ("alias", "arn", "function_name", "function_version")

    def __init__(
        self, arn: str, alias: Optional[str], function_name: str, function_version: str
    ) -> None:
        self.arn = arn
        self.alias = alias
        self.function_name = function_name
        self.function_version = function_version


def function_info(context: Any) -> FunctionInfo:
    invoked = getattr(context, "invoked_function_arn", None)
    version = getattr(context, "function_version", None)
    name = getattr(context, "function_name", None)
    version = version if isinstance(version, str) and version else LATEST
    name = name if isinstance(name, str) else ""
    if not isinstance(invoked, str) or not invoked:
        return FunctionInfo(name or "unknown", None, name, version)
    key = (invoked, version)
    cached = _qualified.get(key)
    if cached is None:
        cached = qualify(invoked, version)
        if len(_qualified) >= _MAX_CACHED:
            _qualified.clear()
        _qualified[key] = cached
    return FunctionInfo(cached[0], cached[1], name, version)


def take_cold_start() -> bool:
    """True exactly once per process (sandbox): for its first invocation."""
    global _cold
    cold = _cold
    _cold = False
    return cold


def remaining_ms(context: Any) -> Optional[int]:
    """Milliseconds until Lambda's deadline, or None if the context cannot tell."""
    try:
        value = context.get_remaining_time_in_millis()
    except Exception:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def request_id(context: Any) -> Optional[str]:
    value = getattr(context, "aws_request_id", None)
    return value if isinstance(value, str) else None


def client_context_custom(context: Any) -> Optional[Dict[str, Any]]:
    """The ``custom`` map of the caller's client context (where a traced invoke puts headers)."""
    client_context = getattr(context, "client_context", None)
    if client_context is None:
        return None
    custom = getattr(client_context, "custom", None)
    if custom is None and isinstance(client_context, dict):
        custom = client_context.get("custom") or client_context.get("Custom")
    return custom if isinstance(custom, dict) and custom else None


def client_context_w3c(context: Any) -> Optional[Dict[str, Any]]:
    """W3C fields awslambdaric (4.x) lifts out of the client context into ``context.w3c()``."""
    w3c = getattr(context, "w3c", None)
    if w3c is None:
        return None
    try:
        fields = w3c()
    except Exception:
        return None
    return fields if isinstance(fields, dict) and fields else None


def _reset_for_tests() -> None:
    global _cold
    _cold = True
    _qualified.clear()
