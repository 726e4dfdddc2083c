"""Plain-text trees of spans, for a human watching the acceptor."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

KIND_NAMES = {1: "entry", 2: "exit", 3: "intermediate"}
MAX_INDENT = 40


def field(span: Mapping[str, Any], *path: str) -> Any:
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


def span_label(span: Mapping[str, Any]) -> str:
    name = str(span.get("n", "?"))
    if name == "sdk":
        sdk_name = field(span, "data", "sdk", "name")
        if sdk_name is not None:
            return f"sdk:{sdk_name}"
    return name


def span_detail(span: Mapping[str, Any]) -> str:
    parts = []
    trigger = field(span, "data", "lambda", "trigger")
    if trigger:
        parts.append(str(trigger))
    method = field(span, "data", "http", "method")
    target = field(span, "data", "http", "url") or field(span, "data", "http", "path")
    http = " ".join(str(part) for part in (method, target) if part)
    if http:
        parts.append(http)
    azure_trigger = field(span, "data", "azf", "triggername")
    if azure_trigger:
        parts.append(str(azure_trigger))
    for section in ("kafka", "mq", "appsync"):  # Lambda event sources with no trigger name
        source = field(span, "data", "lambda", section, "source")
        if source:
            parts.append(f"({source})")
    topic = field(span, "data", "kafka", "service")
    if topic:
        parts.append(f"{field(span, 'data', 'kafka', 'access') or ''} {topic}".strip())
    return " ".join(parts)


def _line(span: Mapping[str, Any], depth: int, orphan: bool) -> str:
    kind = span.get("k")
    fields = [
        span_label(span),
        KIND_NAMES.get(kind, f"k={kind}") if isinstance(kind, int) else "k=?",
    ]
    duration = span.get("d")
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        fields.append(f"{duration:.1f} ms")
    errors = span.get("ec")
    if isinstance(errors, int) and not isinstance(errors, bool) and errors > 0:
        fields.append(f"[error x{errors}]")
    detail = span_detail(span)
    if detail:
        fields.append(detail)
    if orphan and span.get("p") is not None:
        fields.append(f"(parent {span['p']})")
    if depth > MAX_INDENT:  # a very deep chain would print lines of thousands of blanks
        return "  " * (MAX_INDENT + 1) + f"[depth {depth}] " + "  ".join(fields)
    return "  " * (depth + 1) + "  ".join(fields)


def walk_trace(spans: Sequence[Mapping[str, Any]]) -> List[Tuple[int, int, bool]]:
    """One trace's spans depth-first, siblings by start time: ``(index, depth, is_root)``.

    A span whose parent is not among ``spans`` is a root (its parent is in another bundle or
    another service); spans caught in a parent cycle come last, as roots, rather than being lost.
    """
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

    order: List[Tuple[int, int, bool]] = []
    seen: set[int] = set()

    def walk(start: int) -> None:
        # An explicit stack, not recursion: a parent chain of thousands of spans is legal.
        stack = [(start, 0, True)]
        while stack:
            index, depth, root = stack.pop()
            if index in seen:
                continue
            seen.add(index)
            order.append((index, depth, root))
            for child in reversed(children.get(spans[index].get("s"), [])):
                stack.append((child, depth + 1, False))

    for root in roots:
        walk(root)
    for index in sorted(set(range(len(spans))) - seen, key=lambda i: _order(spans[i])):
        walk(index)
    return order


def group_traces(
    spans: Sequence[Mapping[str, Any]],
) -> List[Tuple[str, List[Mapping[str, Any]]]]:
    """Spans by trace id, traces in order of their first span."""
    traces: Dict[str, List[Mapping[str, Any]]] = {}
    for span in spans:
        traces.setdefault(str(span.get("t", "?")), []).append(span)
    return sorted(traces.items(), key=lambda item: (min(_order(s) for s in item[1]), item[0]))


def printable(text: str) -> str:
    """``text`` safe for a terminal: control characters (escape sequences that would clear
    the screen or set its title, carriage returns, ...) shown as ``\\x1b``-style escapes."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escaped(char) for char in text)


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def render_traces(spans: Sequence[Mapping[str, Any]]) -> str:
    """One indented tree per trace id, traces in order of their first span; ends with a newline
    unless there are no spans. Every line is ``printable``: span names come from the network."""
    lines: List[str] = []
    for trace_id, members in group_traces(spans):
        lines.append(f"trace {trace_id} ({len(members)} spans)")
        for index, depth, root in walk_trace(members):
            lines.append(_line(members[index], depth, root))
    return "".join(printable(line) + "\n" for line in lines)
