"""Shared pieces of the benchmarks: the acceptor in its own process, timing helpers."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"


@contextmanager
def acceptor_process(key: str = KEY) -> Iterator[str]:
    """The local acceptor (checking ``key``) in a separate process, so it does not share our
    GIL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "instana_serverless.acceptor",
            "--port",
            "0",
            "--key",
            key,
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


_source_copy: Optional[Path] = None


def source_only_copy() -> Path:
    """A copy of the package without ``__pycache__``, as a Lambda layer ships it."""
    global _source_copy
    if _source_copy is None:
        _source_copy = Path(tempfile.mkdtemp(prefix="bench-layer-"))
        shutil.copytree(
            ROOT / "instana_serverless",
            _source_copy / "instana_serverless",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        atexit.register(shutil.rmtree, _source_copy, True)
    return _source_copy


def fresh_process_ms(
    code: str, runs: int, env: dict[str, str] | None = None, *, bytecode: bool = True
) -> float:
    """Median of what ``code`` prints (milliseconds) over fresh interpreters.

    ``bytecode=False`` imports our package from a copy without ``__pycache__`` and writes none
    (``-B``), so every cold start compiles our modules as on Lambda, where a layer's ``/opt``
    is read-only; the standard library keeps its cached bytecode, as on Lambda.
    """
    run_env = {**os.environ, **(env or {})}
    command = [sys.executable]
    cwd = ROOT
    if bytecode:
        run_env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        cwd = source_only_copy()
        command.append("-B")
        paths = run_env.get("PYTHONPATH", "").split(os.pathsep)
        paths = [str(cwd) if p == str(ROOT) else p for p in paths if p]
        run_env["PYTHONPATH"] = os.pathsep.join([str(cwd), *paths])
    command += ["-c", code]
    values: List[float] = []
    for index in range(runs + (1 if bytecode else 0)):
        out = subprocess.run(
            command, capture_output=True, text=True, cwd=cwd, env=run_env, check=True
        )
        if bytecode and index == 0:
            continue  # this run wrote the bytecode the others read
        values.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(values)


def table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name.ljust(width)}  {value}" for name, value in rows)


def lambda_context() -> Any:
    """A real ``awslambdaric`` ``LambdaContext`` whose deadline is an hour away, so that re-used
    for every timed invocation it never lets the timeout guard fire."""
    from awslambdaric.lambda_context import LambdaContext  # type: ignore[import-untyped]

    return LambdaContext(
        "req-1",
        None,
        None,
        int(time.time() * 1000) + 3_600_000,
        "arn:aws:lambda:eu-central-1:123456789012:function:bench",
    )
