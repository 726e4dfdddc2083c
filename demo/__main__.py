"""Runs one realistic scenario per platform against the embedded local acceptor, then shows
the traces that arrived, per platform, and where the raw bundles are.

make demo          (or: .venv/bin/python -m demo [--out DIR])
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, Dict, List, Optional, Tuple

from demo import scenarios
from demo.harness import KEY, ROOT, Harness, progress
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.acceptor.tree import render_traces

Result = Tuple[scenarios.Scenario, List[Dict[str, Any]], Optional[str]]


def _stop_on_sigterm(signum: int, frame: Optional[FrameType]) -> None:
    # Unwinds like Ctrl-C, through the finally blocks that stop the subprocesses.
    raise KeyboardInterrupt


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _run_all(acceptor: Acceptor, harness: Harness) -> List[Result]:
    results: List[Result] = []
    for scenario in scenarios.ALL:
        progress(f"{scenario.platform}: {scenario.title}")
        before = len(acceptor.spans())
        error = None
        try:
            scenario.run(harness)
        except Exception as exc:  # a broken scenario should not hide the others
            error = f"{type(exc).__name__}: {exc}"
            print(f"    {scenario.platform} failed: {error}", file=sys.stderr, flush=True)
        spans = acceptor.spans()[before:]
        if error is None and not spans:
            error = "no spans arrived"
        results.append((scenario, spans, error))
    return results


def _report(results: List[Result]) -> None:
    for scenario, spans, error in results:
        title = f" {scenario.platform}: {scenario.title} "
        print(f"\n{title:=^100}")
        if error:
            print(f"  FAILED: {error}")
        print(render_traces(spans) if spans else "  (no spans)", end="")


def _footer(bundles_file: Path, log_dir: Path) -> None:
    print(
        f"\nRaw bundles, one accepted bundle per line (JSON): {_shown(bundles_file)}\n"
        f"Output of the platforms' processes: {_shown(log_dir)}/\n"
        "Run the acceptor yourself, with its trace view at http://127.0.0.1:8989/, and point\n"
        "any instrumented function at it:\n"
        "    .venv/bin/instana-serverless acceptor --port 8989 --output bundles.jsonl --ui\n"
        "    export INSTANA_ENDPOINT_URL=http://127.0.0.1:8989 INSTANA_AGENT_KEY=any-key\n"
        "Check a function's settings where it runs: .venv/bin/instana-serverless doctor"
    )


def _demo(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    bundles_file = out_dir / "bundles.jsonl"
    bundles_file.unlink(missing_ok=True)
    started = time.perf_counter()

    progress("starting the local acceptor…")
    with Acceptor(key=KEY, output=bundles_file) as acceptor:
        progress(f"acceptor listening on {acceptor.url}/bundle")
        # The generic job (in this process) is configured by the environment alone.
        os.environ.update({"INSTANA_ENDPOINT_URL": acceptor.url, "INSTANA_AGENT_KEY": KEY})
        harness = Harness(acceptor, out_dir)
        try:
            results = _run_all(acceptor, harness)
        finally:
            harness.stop()
        _report(results)
        progress(
            f"{len(acceptor.bundles)} bundles, {len(acceptor.spans())} spans received "
            f"in {time.perf_counter() - started:.1f} s"
        )
    _footer(bundles_file, harness.log_dir)
    failed = [scenario.platform for scenario, _, error in results if error]
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "out" / "demo", help="bundles and logs (out/demo)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _demo(args.out)
    except KeyboardInterrupt:
        # The finally blocks on the way here have stopped every process the demo started.
        print("\ninterrupted: the demo's processes are stopped", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    code = main()
    # Everything is stopped by now: a late Ctrl-C must not fail a finished demo at exit.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
