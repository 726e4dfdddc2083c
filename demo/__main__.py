"""Runs instrumented samples against a local acceptor and shows the traces that arrived.

make demo          (or: .venv/bin/python -m demo)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Tuple

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.acceptor.tree import render_traces

from . import scenarios

KEY = "demo-agent-key"


def progress(message: str) -> None:
    print(f"==> {message}", flush=True)


def main() -> int:
    out_dir = Path(tempfile.mkdtemp(prefix="instana-demo-"))
    bundles_file = out_dir / "bundles.jsonl"
    started = time.perf_counter()
    with Acceptor(key=KEY, output=bundles_file) as acceptor:
        progress(f"local acceptor listening on {acceptor.url}/bundle")
        os.environ.update({"INSTANA_ENDPOINT_URL": acceptor.url, "INSTANA_AGENT_KEY": KEY})
        runs: List[Tuple[str, Callable[[Acceptor], None]]] = scenarios.ALL
        failures = 0
        for title, run in runs:
            progress(f"running: {title}")
            before = len(acceptor.spans())
            try:
                run(acceptor)
            except Exception as exc:  # a broken scenario should not hide the others
                failures += 1
                print(f"    scenario failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            spans = acceptor.spans()[before:]
            print(render_traces(spans))
        progress(
            f"{len(acceptor.bundles)} bundles, {len(acceptor.spans())} spans received "
            f"in {time.perf_counter() - started:.1f} s"
        )
    progress(f"raw bundles (JSON lines): {bundles_file}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
