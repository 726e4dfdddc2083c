"""One function per demo scenario; each drives real instrumented code against the acceptor."""

from __future__ import annotations

from typing import Callable, List, Tuple

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor


def generic_job(acceptor: Acceptor) -> None:
    """A plain Python job with custom spans, continuing a trace from incoming headers."""
    instana.configure()
    headers = {"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "fedcba0987654321"}
    with instana.entry_span("batch.job", headers=headers, data={"batch": {"items": 3}}):
        for item in range(3):
            with instana.span("process-item", tags={"item": item}):
                sum(range(10_000))
    try:
        with instana.entry_span("batch.job.failing"), instana.span("parse"):
            raise ValueError("malformed record")
    except ValueError:
        pass
    acceptor.wait_for_spans(6)


ALL: List[Tuple[str, Callable[[Acceptor], None]]] = [
    ("generic job with custom spans (core API)", generic_job),
]
