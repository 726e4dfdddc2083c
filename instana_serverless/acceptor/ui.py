"""The acceptor's trace view: accepted spans grouped into traces as JSON, and the static page
(``acceptor/ui/``) that polls that JSON and draws each trace as a waterfall."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .profiles import PROFILES_PATH
from .tree import KIND_NAMES, field, group_traces, span_detail, span_label, walk_trace

TRACES_PATH = "/api/traces"
# Newest traces first; a long session would otherwise make every poll slower and larger.
MAX_TRACES = 200

# request path -> (file in acceptor/ui/, content type); nothing outside this table is served.
_STATIC: Dict[str, Tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/ui": ("index.html", "text/html; charset=utf-8"),
    "/ui/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/style.css": ("style.css", "text/css; charset=utf-8"),
}

Reply = Tuple[int, str, str]


def _short_entity(entity: str) -> str:
    # The last meaningful part of an entity id: "orders:7" of a Lambda ARN, the site of an
    # Azure resource path, the revision of "gcp:cloud-run:revision:<rev>".
    if ":function:" in entity:
        return entity.split(":function:", 1)[1]
    if "/" in entity.rstrip("/"):
        return entity.rstrip("/").rsplit("/", 1)[1]
    if entity.startswith("gcp:"):
        return entity.rsplit(":", 1)[1] or entity
    return entity


def _service(span: Mapping[str, Any], inherited: str) -> str:
    entity = field(span, "f", "e")
    if isinstance(entity, str) and entity:
        return _short_entity(entity)
    for path in (("data", "lambda", "functionName"), ("data", "azf", "name")):
        value = field(span, *path)
        if isinstance(value, str) and value:
            return value
    return inherited


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _trace(trace_id: str, spans: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    start = min(_number(span.get("ts")) for span in spans)
    end = max(_number(span.get("ts")) + _number(span.get("d")) for span in spans)
    rows: List[Dict[str, Any]] = []
    services: Dict[Any, str] = {}  # span id -> service, for children without an entity
    for index, depth, root in walk_trace(spans):
        span = spans[index]
        parent = span.get("p")
        service = _service(span, "" if root else services.get(parent, ""))
        services[span.get("s")] = service
        kind = span.get("k")
        rows.append(
            {
                "id": span.get("s"),
                "parent": parent,
                "depth": depth,
                "orphan": root and parent is not None,
                "name": span_label(span),
                "kind": KIND_NAMES.get(kind, f"k={kind}") if isinstance(kind, int) else "?",
                "service": service,
                "entity": field(span, "f", "e"),
                "trigger": span_detail(span),
                "ts": span.get("ts"),
                "offset": _number(span.get("ts")) - start,
                "duration": _number(span.get("d")),
                "errors": int(_number(span.get("ec"))),
                "inferred": field(span, "data", "sdk", "custom", "tags", "inferred") is True,
                "data": span.get("data") or {},
            }
        )
    return {
        "id": trace_id,
        "start": start,
        "duration": end - start,
        "errors": sum(row["errors"] for row in rows),
        "spans": rows,
    }


def traces(
    spans: Sequence[Mapping[str, Any]],
    limit: int = MAX_TRACES,
    refused: Sequence[Mapping[str, Any]] = (),
) -> Dict[str, Any]:
    """Spans grouped by trace id, newest trace first, each trace's spans depth-first with
    offsets from the trace's start: what ``GET /api/traces`` answers. ``refused``: the
    acceptor's refusals (status, reason, count, host), shown above the traces."""
    grouped = group_traces(spans)
    shown = [_trace(trace_id, members) for trace_id, members in reversed(grouped[-limit:])]
    return {
        "traceCount": len(grouped),
        "spanCount": len(spans),
        "refusedCount": sum(int(item["count"]) for item in refused),
        "refused": [dict(item) for item in refused],
        "traces": shown,
    }


def _static(name: str) -> str:
    # Read on every request, so an edited page shows on reload (they are a few KiB).
    folder = resources.files("instana_serverless.acceptor") / "ui"
    return (folder / name).read_text(encoding="utf-8")


def serves(path: str) -> bool:
    return path in (TRACES_PATH, PROFILES_PATH) or path in _STATIC


def route(
    path: str, spans: Sequence[Mapping[str, Any]], refused: Sequence[Mapping[str, Any]] = ()
) -> Optional[Reply]:
    """The reply for a GET of the trace view or its JSON, None for any other path."""
    if path == TRACES_PATH:
        return (200, json.dumps(traces(spans, refused=refused)), "application/json")
    static = _STATIC.get(path)
    if static is None:
        return None
    return (200, _static(static[0]), static[1])
