"""AutoProfile profiles posted to the local acceptor: validation, a bounded store, the JSON the
trace view draws flame graphs from.

A local-only extension: ``POST .../profiles`` with ``{"profiles": [{"scope": "trace",
"traceId", "spanId", "profile"} | {"scope": "process", "profile"}]}``, each ``profile`` in the
AutoProfile form of the Instana collectors (``pid``, ``id``, ``runtime``, ``category``,
``type``, ``unit``, ``roots``, ``duration``, ``timespan``, ``timestamp``; call sites with
``method_name``, ``file_name``, ``file_line``, ``measurement``, ``num_samples``, ``children``).
The Instana serverless acceptor documents no such resource; the library posts here only when
its endpoint is a loopback ``http://`` URL.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from typing import Any, Dict, List, Mapping

PROFILES_PATH = "/api/profiles"
# Traces whose profiles are kept; the oldest go first.
MAX_TRACE_PROFILES = 500
# Call sites checked per profile at most; deeper or wider input is refused, not walked.
MAX_CALL_SITES = 50_000
MAX_DEPTH = 300

_HEX16 = re.compile(r"[0-9a-f]{16}")
_PROFILE_FIELDS: Dict[str, type] = {
    "pid": str,
    "id": str,
    "runtime": str,
    "category": str,
    "type": str,
    "unit": str,
    "roots": list,
}
_NUMBERS = ("duration", "timespan", "timestamp")


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _check_sites(where: str, sites: object, problems: List[str]) -> None:
    # Iterative: a hostile body must not exhaust the recursion limit.
    budget = MAX_CALL_SITES
    stack: List[Any] = [(where, sites, 0)]
    while stack:
        path, items, depth = stack.pop()
        if not isinstance(items, list):
            problems.append(f"{path}: expected a list of call sites")
            continue
        if depth > MAX_DEPTH:
            problems.append(f"{path}: call tree deeper than {MAX_DEPTH}")
            return
        for index, site in enumerate(items):
            budget -= 1
            if budget < 0:
                problems.append(f"{where}: more than {MAX_CALL_SITES} call sites")
                return
            here = f"{path}[{index}]"
            if not isinstance(site, dict):
                problems.append(f"{here}: expected an object")
                continue
            for field in ("method_name", "file_name"):
                if not isinstance(site.get(field), str):
                    problems.append(f"{here}.{field}: expected a string")
            line = site.get("file_line")
            if isinstance(line, bool) or not isinstance(line, int):
                problems.append(f"{here}.file_line: expected an integer")
            if not (_is_number(site.get("measurement")) and site["measurement"] >= 0):
                problems.append(f"{here}.measurement: expected a non-negative number")
            samples = site.get("num_samples")
            if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
                problems.append(f"{here}.num_samples: expected a non-negative integer")
            stack.append((f"{here}.children", site.get("children"), depth + 1))
        if len(problems) > 20:
            return


def validate_profile(where: str, profile: object) -> List[str]:
    if not isinstance(profile, dict):
        return [f"{where}: expected an object"]
    problems: List[str] = []
    for field, kind in _PROFILE_FIELDS.items():
        if not isinstance(profile.get(field), kind):
            problems.append(f"{where}.{field}: expected a {kind.__name__}")
    for field in _NUMBERS:
        if not _is_number(profile.get(field)):
            problems.append(f"{where}.{field}: expected a number")
    if isinstance(profile.get("roots"), list):
        _check_sites(f"{where}.roots", profile["roots"], problems)
    return problems


def validate_profiles(body: object) -> List[str]:
    """Problems with a ``POST .../profiles`` body; empty when it is acceptable."""
    if not isinstance(body, dict) or not isinstance(body.get("profiles"), list):
        return ['body: expected {"profiles": [...]}']
    problems: List[str] = []
    for index, item in enumerate(body["profiles"]):
        where = f"profiles[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected an object")
            continue
        scope = item.get("scope")
        if scope == "trace":
            for field in ("traceId", "spanId"):
                value = item.get(field)
                if not (isinstance(value, str) and _HEX16.fullmatch(value)):
                    problems.append(f"{where}.{field}: expected 16 lowercase hex chars")
        elif scope != "process":
            problems.append(f'{where}.scope: expected "trace" or "process"')
        problems.extend(validate_profile(f"{where}.profile", item.get("profile")))
    return problems


class ProfileStore:
    """The newest profile of every process, and the profiles of the newest traces."""

    def __init__(self, max_traces: int = MAX_TRACE_PROFILES) -> None:
        self.max_traces = max_traces
        self._lock = threading.Lock()
        self._processes: Dict[str, Dict[str, Any]] = {}
        self._traces: OrderedDict[str, List[Dict[str, Any]]] = OrderedDict()

    def add(self, body: Mapping[str, Any]) -> None:
        with self._lock:
            for item in body["profiles"]:
                profile = item["profile"]
                if item["scope"] == "process":
                    self._processes[profile["pid"]] = profile
                    continue
                trace_id = item["traceId"]
                kept = self._traces.pop(trace_id, [])
                kept.append({**profile, "spanId": item["spanId"]})
                self._traces[trace_id] = kept
                while len(self._traces) > self.max_traces:
                    self._traces.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._processes.clear()
            self._traces.clear()

    def snapshot(self) -> Dict[str, Any]:
        """What ``GET /api/profiles`` answers: processes newest first, traces by id."""
        with self._lock:
            processes = sorted(
                self._processes.values(), key=lambda p: p.get("timestamp", 0), reverse=True
            )
            return {"processes": processes, "traces": dict(self._traces)}
