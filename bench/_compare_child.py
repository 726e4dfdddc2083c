"""One fresh Lambda sandbox for bench/compare.py, run by the side venv's interpreter.

    python bench/_compare_child.py MODE CONTENDER [WARM]

MODE ``timing`` prints import + wrap, first invocation (incl. its flush) and the median warm
invocation; ``defects`` invokes three times and counts the entry spans the backend holds
after each return; ``nokey`` invokes once without an agent key. The last stdout line is JSON.
Environment (endpoint, key, LAMBDA_HANDLER, PYTHONPATH) is set by the parent per contender.
"""

from __future__ import annotations

# What awslambdaric's bootstrap has already imported when it loads the handler module: a
# sensor's import of these costs nothing in a real sandbox, so it costs nothing here either.
import decimal  # noqa: F401
import json
import logging
import os
import sys
import threading  # noqa: F401
import time
import traceback

# The script's own folder (bench/) must not be importable by either side.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

ARN = "arn:aws:lambda:eu-central-1:123456789012:function:bench"
# Packages a contender must not load: each side runs without the other.
FOREIGN = {
    "bare": ("instana", "instana_serverless"),
    "ours": ("instana",),
    "ours-layer": ("instana",),
    "official": ("instana_serverless",),
}


class Context:
    """The attributes of awslambdaric's LambdaContext that sensors read."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = ARN
    memory_limit_in_mb = "128"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "2024/01/01/[$LATEST]0123456789abcdef"
    client_context = None
    identity = None

    def __init__(self, request_id: str, timeout_ms: int = 30_000) -> None:
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load(contender: str):  # type: ignore[no-untyped-def]
    """Import and wrap as the runtime's init would; returns the handler the runtime calls."""
    if contender == "bare":
        import fn_bare  # type: ignore[import-not-found]

        return fn_bare.handler
    if contender == "ours":
        import fn_ours  # type: ignore[import-not-found]

        return fn_ours.handler
    if contender == "ours-layer":
        import instana_serverless.lambda_layer  # LAMBDA_HANDLER=fn_bare.handler

        return instana_serverless.lambda_layer.handler
    if contender == "official":
        import instana  # type: ignore[import-not-found]  # LAMBDA_HANDLER=fn_bare.handler

        return instana.lambda_handler
    raise SystemExit(f"unknown contender {contender!r}")


def entry_spans_held() -> int:
    """How many entry spans the acceptor holds now (plain http.client: neither side traces it)."""
    import http.client
    from urllib.parse import urlsplit

    base = urlsplit(os.environ["BENCH_ACCEPTOR"])
    conn = http.client.HTTPConnection(base.hostname or "127.0.0.1", base.port, timeout=5)
    try:
        conn.request("GET", "/api/bundles")
        bundles = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    return sum(1 for b in bundles for s in b.get("spans") or [] if s.get("n") == "aws.lambda.entry")


def timing(contender: str, event: object, warm: int) -> dict:  # type: ignore[type-arg]
    contexts = [Context(f"req-{i}") for i in range(warm + 1)]
    start = time.perf_counter()
    handler = load(contender)
    loaded = time.perf_counter()
    handler(event, contexts[0])
    first = time.perf_counter()
    samples = []
    for context in contexts[1:]:
        t = time.perf_counter()
        handler(event, context)
        samples.append(time.perf_counter() - t)
    samples.sort()
    return {
        "import_ms": (loaded - start) * 1000,
        "first_ms": (first - start) * 1000,
        "warm_us": samples[len(samples) // 2] * 1e6 if samples else 0.0,
    }


def defects(contender: str, event: object) -> dict:  # type: ignore[type-arg]
    root = logging.getLogger()
    before = (root.level, len(root.handlers))
    handler = load(contender)
    held = []
    for i in range(1, 4):
        handler(event, Context(f"req-{i}"))
        held.append(entry_spans_held())
    return {
        "entry_spans_after_each": held,
        "root_logger_changed": before
        != (
            root.level,
            len(root.handlers),
        ),
    }


def nokey(contender: str, event: object) -> dict:  # type: ignore[type-arg]
    try:
        handler = load(contender)
        result = handler(event, Context("req-1"))
    except BaseException as exc:  # a crash is the finding, whatever its type
        return {"ok": False, "error": "".join(traceback.format_exception_only(type(exc), exc))}
    return {"ok": isinstance(result, dict) and result.get("body") == "ok", "error": ""}


def main() -> None:
    mode, contender = sys.argv[1], sys.argv[2]
    warm = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    with open(os.environ["BENCH_EVENT"], encoding="utf-8") as file:
        event = json.load(file)
    if mode == "timing":
        out = timing(contender, event, warm)
    elif mode == "defects":
        out = defects(contender, event)
    else:
        out = nokey(contender, event)
    out["foreign"] = sorted(m for m in sys.modules if m.split(".")[0] in FOREIGN.get(contender, ()))
    sys.stdout.flush()
    print("\n" + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
