"""Shared pieces of the benchmarks: the acceptor in its own process, timing helpers."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Sequence

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"


@contextmanager
def acceptor_process() -> Iterator[str]:
    """The local acceptor in a separate process, so it does not share our GIL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "instana_serverless.acceptor",
            "--port",
            "0",
            "--key",
            KEY,
            "--output",
            os.devnull,
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            raise RuntimeError(f"acceptor did not start: {line!r}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.terminate()
        proc.wait(5)


def median_us(fn: Callable[[], object], rounds: int, inner: int = 1) -> float:
    samples: List[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(samples)


def fresh_process_ms(
    code: str, runs: int, env: dict[str, str] | None = None, *, bytecode: bool = True
) -> float:
    """Median of what ``code`` prints (milliseconds) over fresh interpreters.

    ``bytecode=False`` compiles every module from source, as a Lambda layer without
    ``__pycache__`` does on each cold start (``/opt`` is read-only, so nothing gets cached).
    """
    run_env = {**os.environ, **(env or {})}
    command = [sys.executable]
    if bytecode:
        run_env.pop("PYTHONDONTWRITEBYTECODE", None)
        run_env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        # An empty cache directory: nothing is read from it, and -B writes nothing to it.
        command.append("-B")
        run_env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-nocache-")
    command += ["-c", code]
    values: List[float] = []
    for index in range(runs + (1 if bytecode else 0)):
        out = subprocess.run(
            command, capture_output=True, text=True, cwd=ROOT, env=run_env, check=True
        )
        if bytecode and index == 0:
            continue  # this run wrote the bytecode the others read
        values.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(values)


def table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)
