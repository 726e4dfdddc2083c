"""What GraphQL tracing costs per operation, and what importing a GraphQL library costs with us.

    .venv/bin/python bench/graphql_entry.py

Each library runs the same named query (tests/graphql_apps) inside an entry span, with the
``graphql`` row patched and without it; the difference is the per-operation cost of turning
the entry into ``graphql.server`` (reading the operation, recording errors). No flush: the
send is the same with or without the row. Prints medians only; nothing passes or fails.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import instana_serverless as instana
from bench._support import median_us, table
from bench.outbound import import_cost_ms
from instana_serverless.instrumentation import instrument, uninstrument

ROUNDS = 15
INNER = 200


def operations() -> List[Tuple[str, Callable[[], Any]]]:
    """One named query per library, parsed once: what runs per call is graphql-core's execute
    (the part our row wraps), so the row's cost is not lost in parsing and validation."""
    from graphql import execute, parse

    from tests.graphql_apps import NAMED_QUERY
    from tests.graphql_apps.ariadne_schema import schema as ariadne_schema
    from tests.graphql_apps.graphene_schema import schema as graphene_schema
    from tests.graphql_apps.strawberry_schema import schema as strawberry_schema

    document = parse(NAMED_QUERY)
    loop = asyncio.new_event_loop()

    def strawberry_once() -> Any:
        return loop.run_until_complete(execute(strawberry_schema._schema, document))

    return [
        ("graphene (sync)", lambda: execute(graphene_schema.graphql_schema, document)),
        ("strawberry (async)", strawberry_once),
        ("ariadne (sync)", lambda: execute(ariadne_schema, document)),
    ]


def hook_alone() -> Callable[[], None]:
    """Our work per operation without graphql-core around it: start (read the operation,
    rename the entry) and end (look for errors), on a real parsed operation."""
    from graphql import parse

    from instana_serverless.instrumentation import graphql as row
    from instana_serverless.instrumentation.registry import BY_NAME
    from tests.graphql_apps import NAMED_QUERY

    operation = parse(NAMED_QUERY).definitions[0]
    entry = BY_NAME["graphql"]

    context = SimpleNamespace(errors=[])  # what graphql-core's context has for errors

    def once() -> None:
        with instana.entry_span("bench", flush=False):
            traced = row._begin(entry, operation)
            assert traced is not None
            row._record(traced.span, context, None)

    return once


def in_entry(operation: Callable[[], Any]) -> Callable[[], None]:
    def once() -> None:
        with instana.entry_span("bench", flush=False):
            operation()

    return once


def main() -> None:
    client = instana.configure(
        instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="k"), environ={}
    )
    rows: List[Tuple[str, str]] = []
    for label, operation in operations():
        samples: Tuple[List[float], List[float]] = ([], [])
        for _ in range(ROUNDS):  # alternate, so load changes hit both sides alike
            instrument()
            samples[0].append(median_us(in_entry(operation), 1, inner=INNER))
            uninstrument()
            samples[1].append(median_us(in_entry(operation), 1, inner=INNER))
            client.buffer.drain()  # spans are not sent: keep the buffer from filling
        traced = sorted(samples[0])[ROUNDS // 2]
        bare = sorted(samples[1])[ROUNDS // 2]
        rows.append(
            (
                f"{label}: execute a parsed named query in an entry, traced / bare",
                f"{traced:.1f} / {bare:.1f} µs (+{traced - bare:.1f} µs)",
            )
        )
    instrument()
    with_hook = median_us(hook_alone(), ROUNDS, inner=INNER)
    uninstrument()
    plain = median_us(in_entry(lambda: None), ROUNDS, inner=INNER)
    client.buffer.drain()
    rows.append(
        (
            "tracing work per operation (start + end, tight loop)",
            f"{with_hook - plain:.1f} µs (entry span alone: {plain:.1f} µs)",
        )
    )
    for label, names in (
        ("graphene", ("graphene",)),
        ("strawberry", ("strawberry",)),
        ("ariadne", ("ariadne",)),
    ):
        with_ms, without_ms, hooks_ms = import_cost_ms(names, runs=7)
        rows.append(
            (
                f"import {label}: with us / without; in our hooks",
                f"{with_ms:.1f} / {without_ms:.1f} ms; {hooks_ms:.2f} ms",
            )
        )
    print("GraphQL")
    print(table(rows))


if __name__ == "__main__":
    main()
