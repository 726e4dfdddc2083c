"""Plain-text trees of spans, for a human watching the acceptor."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence

_KIND_NAMES = {1: "entry", 2: "exit", 3: "intermediate"}


def _get(span: Mapping[str, Any], *path: str) -> Any:
    value: Any = span
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _order(span: Mapping[str, Any]) -> tuple[float, str]:
    ts = span.get("ts")
    number = float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else 0.0
    return number, str(span.get("s", ""))


def _label(span: Mapping[str, Any]) -> str:
    name = str(span.get("n", "?"))
    if name == "sdk":
        sdk_name = _get(span, "data", "sdk", "name")
        if sdk_name is not None:
            return f"sdk:{sdk_name}"
    return name


def _detail(span: Mapping[str, Any]) -> str:
    parts = []
    trigger = _get(span, "data", "lambda", "trigger")
    if trigger:
        parts.append(str(trigger))
    method = _get(span, "data", "http", "method")
    target = _get(span, "data", "http", "url") or _get(span, "data", "http", "path")
    http = " ".join(str(part) for part in (method, target) if part)
    if http:
        parts.append(http)
    azure_trigger = _get(span, "data", "azf", "triggername")
    if azure_trigger:
        parts.append(str(azure_trigger))
    return " ".join(parts)


def _line(span: Mapping[str, Any], depth: int, orphan: bool) -> str:
    kind = span.get("k")
    fields = [_label(span), _KIND_NAMES.get(kind, f"k={kind}") if isinstance(kind, int) else "k=?"]
    duration = span.get("d")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        fields.append(f"{duration:.1f} ms")
    errors = span.get("ec")
    if isinstance(errors, int) and not isinstance(errors, bool) and errors > 0:
        fields.append(f"[error x{errors}]")
    detail = _detail(span)
    if detail:
        fields.append(detail)
    if orphan and span.get("p") is not None:
        fields.append(f"(parent {span['p']})")
    return "  " * (depth + 1) + "  ".join(fields)


def _render_trace(trace_id: str, spans: Sequence[Mapping[str, Any]]) -> List[str]:
    ids = {span.get("s") for span in spans}
    children: Dict[Any, List[int]] = {}
    roots: List[int] = []
    for index, span in enumerate(spans):
        parent = span.get("p")
        if parent is not None and parent in ids and parent != span.get("s"):
            children.setdefault(parent, []).append(index)
        else:
            roots.append(index)
    for siblings in children.values():
        siblings.sort(key=lambda i: _order(spans[i]))
    roots.sort(key=lambda i: _order(spans[i]))

    lines = [f"trace {trace_id} ({len(spans)} spans)"]
    seen: set[int] = set()

    def walk(index: int, depth: int, orphan: bool) -> None:
        if index in seen:
            return
        seen.add(index)
        lines.append(_line(spans[index], depth, orphan))
        for child in children.get(spans[index].get("s"), []):
            walk(child, depth + 1, False)

    for root in roots:
        walk(root, 0, True)
    # A parent cycle has no root; show its spans rather than losing them.
    for index in sorted(set(range(len(spans))) - seen, key=lambda i: _order(spans[i])):
        walk(index, 0, True)
    return lines


def render_traces(spans: Sequence[Mapping[str, Any]]) -> str:
    """One indented tree per trace id, traces in order of their first span; ends with a newline
    unless there are no spans."""
    traces: Dict[str, List[Mapping[str, Any]]] = {}
    for span in spans:
        traces.setdefault(str(span.get("t", "?")), []).append(span)
    ordered = sorted(traces.items(), key=lambda item: (min(_order(s) for s in item[1]), item[0]))
    lines: List[str] = []
    for trace_id, members in ordered:
        lines.extend(_render_trace(trace_id, members))
    return "".join(line + "\n" for line in lines)
