"""Validation of a bundle against the wire format (docs/CONTRACT.md §3 and §4)."""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List

_HEX16 = re.compile(r"[0-9a-f]{16}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16_OR_32 = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")
_KINDS = (1, 2, 3)
_REQUIRED = ("t", "s", "ts", "d", "n", "k")


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but `true` is never a valid number on the wire.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _is_hex(value: object, pattern: re.Pattern[str]) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _check_span(where: str, span: Dict[str, Any]) -> List[str]:
    problems: List[str] = []

    def bad(field: str, expected: str) -> None:
        problems.append(f"{where}.{field}: expected {expected}, got {_describe(span[field])}")

    for field in _REQUIRED:
        if field not in span:
            problems.append(f"{where}.{field}: missing required field")
    for field, value in span.items():
        if value is None:
            problems.append(f"{where}.{field}: must not be null")

    present = {field: value for field, value in span.items() if value is not None}
    for field in ("t", "s", "p"):
        if field in present and not _is_hex(present[field], _HEX16):
            bad(field, "16 lowercase hex chars")
    if "lt" in present and not _is_hex(present["lt"], _HEX32):
        bad("lt", "32 lowercase hex chars")
    if "ts" in present and not (_is_int(present["ts"]) and present["ts"] > 0):
        bad("ts", "a positive integer (epoch ms)")
    if "d" in present and not (_is_number(present["d"]) and present["d"] >= 0):
        bad("d", "a non-negative number (ms)")
    if "n" in present and not (isinstance(present["n"], str) and present["n"]):
        bad("n", "a non-empty string")
    if "k" in present and not (_is_int(present["k"]) and present["k"] in _KINDS):
        bad("k", "1 (entry), 2 (exit) or 3 (intermediate)")
    if "ec" in present and not (_is_int(present["ec"]) and present["ec"] >= 0):
        bad("ec", "a non-negative integer")
    if "data" in present and not isinstance(present["data"], dict):
        bad("data", "an object")
    for field in ("sy", "tp"):
        if field in present and not isinstance(present[field], bool):
            bad(field, "a boolean")
    for field in ("crtp", "crid"):
        if field in present and not isinstance(present[field], str):
            bad(field, "a string")
    if "f" in present:
        problems.extend(_check_from(f"{where}.f", present["f"]))
    if "ia" in present:
        problems.extend(_check_ia(f"{where}.ia", present["ia"]))
    return problems


def _check_from(where: str, value: object) -> List[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {_describe(value)}"]
    problems = []
    for field, expected_type, name in (("e", str, "a string"), ("cp", str, "a string")):
        if field in value and not isinstance(value[field], expected_type):
            problems.append(f"{where}.{field}: expected {name}, got {_describe(value[field])}")
    if "hl" in value and not isinstance(value["hl"], bool):
        problems.append(f"{where}.hl: expected a boolean, got {_describe(value['hl'])}")
    return problems


def _check_ia(where: str, value: object) -> List[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {_describe(value)}"]
    problems = []
    if not _is_hex(value.get("t"), _HEX16_OR_32):
        problems.append(f"{where}.t: expected 16 or 32 lowercase hex chars")
    if not _is_hex(value.get("p"), _HEX16):
        problems.append(f"{where}.p: expected 16 lowercase hex chars")
    return problems


def _check_metrics(value: object) -> List[str]:
    if not isinstance(value, dict):
        return [f"metrics: expected an object, got {_describe(value)}"]
    plugins = value.get("plugins")
    if not isinstance(plugins, list):
        return [f"metrics.plugins: expected a list, got {_describe(plugins)}"]
    problems: List[str] = []
    for index, plugin in enumerate(plugins):
        where = f"metrics.plugins[{index}]"
        if not isinstance(plugin, dict):
            problems.append(f"{where}: expected an object, got {_describe(plugin)}")
            continue
        name = plugin.get("name")
        if not (isinstance(name, str) and name):
            problems.append(f"{where}.name: expected a non-empty string, got {_describe(name)}")
        if not isinstance(plugin.get("entityId"), str):
            problems.append(
                f"{where}.entityId: expected a string, got {_describe(plugin.get('entityId'))}"
            )
        if "data" in plugin and not isinstance(plugin["data"], dict):
            problems.append(f"{where}.data: expected an object, got {_describe(plugin['data'])}")
    return problems


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_bundle(obj: object) -> List[str]:
    """Problems with ``obj`` as a bundle, human-readable; an empty list means it is valid."""
    if not isinstance(obj, dict):
        return [f"bundle: expected a JSON object, got {_describe(obj)}"]
    problems = [f"{key}: must not be null" for key, value in obj.items() if value is None]
    spans = obj.get("spans")
    if spans is not None:
        if not isinstance(spans, list):
            problems.append(f"spans: expected a list, got {_describe(spans)}")
        else:
            for index, span in enumerate(spans):
                if isinstance(span, dict):
                    problems.extend(_check_span(f"spans[{index}]", span))
                else:
                    problems.append(f"spans[{index}]: expected an object, got {_describe(span)}")
    if obj.get("metrics") is not None:
        problems.extend(_check_metrics(obj["metrics"]))
    return problems
