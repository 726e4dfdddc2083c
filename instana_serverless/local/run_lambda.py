"""``instana-serverless run-lambda app.handler --event e.json``: a function run locally the way
Lambda runs it.

The real runtime client (``awslambdaric``) starts in a process of its own, imports the handler
and polls our Runtime API emulator (``lambda_runtime``), which hands it each event, freezes the
process between invocations and serves the Extensions API, so the sending mode is the one the
function gets on Lambda. Without ``INSTANA_ENDPOINT_URL`` the spans go to a local acceptor
started for the run, which prints each trace and appends it to ``out/instana-bundles.jsonl``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

LAYER_HANDLER = "instana_serverless.lambda_layer.handler"
LOCAL_KEY = "local-run"
# Set by the emulator for the runtime's process; the caller's own values would point elsewhere.
_OWN_VARIABLES = ("AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "PYTHONPATH")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("handler", help="the function's handler, module.function (app.handler)")
    parser.add_argument(
        "--event",
        action="append",
        default=[],
        metavar="FILE",
        help="a JSON event file, '-' for stdin; repeat for several invocations (default: {})",
    )
    parser.add_argument(
        "--code-dir",
        default=".",
        help="the function's code, imported as on Lambda (default: the current directory)",
    )
    parser.add_argument(
        "--layer",
        action="store_true",
        help=f"run it as the layer does: the function's handler is {LAYER_HANDLER} and "
        "LAMBDA_HANDLER names yours (no code change needed)",
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="the function's timeout in seconds (30)"
    )


def _events(paths: List[str]) -> List[Any]:
    events: List[Any] = []
    for path in paths:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        events.append(json.loads(text))
    return events or [{}]


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("awslambdaric") is None:
        print(
            "run-lambda needs the AWS Lambda runtime client: pip install awslambdaric",
            file=sys.stderr,
        )
        return 2
    try:
        events = _events(args.event)
    except (OSError, ValueError) as exc:
        print(f"run-lambda: cannot read the event: {exc}", file=sys.stderr)
        return 2
    code_dir = Path(args.code_dir).resolve()
    env = {k: v for k, v in os.environ.items() if k not in _OWN_VARIABLES}
    handler = args.handler
    if args.layer:
        env["LAMBDA_HANDLER"] = handler
        handler = LAYER_HANDLER

    from ..acceptor.server import DEFAULT_OUTPUT, Acceptor
    from .lambda_runtime import RuntimeAPI, start_runtime

    acceptor: Optional[Acceptor] = None
    if not env.get("INSTANA_ENDPOINT_URL"):
        acceptor = Acceptor(output=DEFAULT_OUTPUT, echo=sys.stdout).start()
        env["INSTANA_ENDPOINT_URL"] = acceptor.url
        env.setdefault("INSTANA_AGENT_KEY", LOCAL_KEY)
        print(
            f"run-lambda: INSTANA_ENDPOINT_URL is not set, so spans go to a local acceptor at "
            f"{acceptor.url} (traces printed below, bundles in {DEFAULT_OUTPUT})",
            flush=True,
        )
    failed = False
    try:
        with RuntimeAPI() as api:
            runtime = start_runtime(api, handler, code_dir=code_dir, env=env, output=None)
            try:
                for number, event in enumerate(events, 1):
                    failed |= not _invoke(api, event, number, args.timeout)
                    if runtime.poll() is not None:
                        print("run-lambda: the runtime process exited", file=sys.stderr)
                        return 1
            finally:
                runtime.terminate()
                runtime.wait(10)
    finally:
        if acceptor is not None:
            acceptor.stop()
    return 1 if failed else 0


def _invoke(api: Any, event: Any, number: int, timeout_s: float) -> bool:
    """One invocation; True when the function answered without an error."""
    try:
        invocation = api.invoke(event, timeout_s=timeout_s + 10, timeout_ms=int(timeout_s * 1000))
    except TimeoutError:
        print(f"run-lambda: invocation {number}: no answer within {timeout_s:g} s", flush=True)
        return False
    # Spans sent after the response (extension mode) leave before Lambda would freeze the
    # sandbox: wait for that moment, as the next invocation would.
    invocation.frozen.wait(min(timeout_s, 10.0))
    body: Dict[str, Any] = {"response": invocation.body}
    if invocation.outcome == "error":
        error = invocation.body if isinstance(invocation.body, dict) else {}
        body = {
            "error": error.get("errorType") or invocation.error_type,
            "message": error.get("errorMessage"),
        }
    print(
        f"run-lambda: invocation {number} ({invocation.request_id}): {json.dumps(body)}",
        flush=True,
    )
    return bool(invocation.outcome == "response")
