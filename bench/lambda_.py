"""AWS Lambda figures: per-trigger wrap overhead (tracing work, no network) and the cold start
of the layer handler.

    .venv/bin/python bench/lambda_.py

Prints medians only; nothing passes or fails. "Tracing work" is everything the decorator does
per invocation (context, trigger detection and summary, incoming context, span, timeout guard
arm/disarm, status and Server-Timing, span end) with the flush replaced by draining the buffer.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (
    KEY,
    ROOT,
    acceptor_process,
    fresh_process_ms,
    lambda_context,
    median_us,
    table,
)

TRIGGERS = (
    "api_gateway_rest",
    "api_gateway_http_v2",
    "api_gateway_websocket",
    "api_gateway_noproxy",
    "alb",
    "function_url",
    "sqs",
    "sqs_from_sns",
    "sns",
    "s3",
    "dynamodb",
    "kinesis",
    "eventbridge_scheduled",
    "eventbridge_custom",
    "cloudwatch_logs",
    "direct_invoke",
)

FUNCTION = """
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}
"""

LAYER_IMPORT = """
import time
t = time.perf_counter()
import instana_serverless.lambda_layer
print((time.perf_counter() - t) * 1000)
"""

LAYER_FIRST_INVOCATION = """
import time
t = time.perf_counter()
import instana_serverless.lambda_layer as layer
from awslambdaric.lambda_context import LambdaContext
ctx = LambdaContext("req-1", None, None, int(time.time() * 1000) + 30000,
                    "arn:aws:lambda:eu-central-1:123456789012:function:bench")
layer.handler({"resource": "/x", "path": "/x", "httpMethod": "GET", "headers": {}}, ctx)
print((time.perf_counter() - t) * 1000)
"""

BARE_FIRST_INVOCATION = """
import time
t = time.perf_counter()
import bench_fn
bench_fn.handler({"resource": "/x", "path": "/x", "httpMethod": "GET", "headers": {}}, None)
print((time.perf_counter() - t) * 1000)
"""


def warm_overheads() -> Dict[str, Any]:
    import instana_serverless as instana
    from instana_serverless.aws_lambda import lambda_handler
    from tests.lambda_fixtures import load_event

    client = instana.configure(
        instana.Options(endpoint_url="http://127.0.0.1:9", agent_key=KEY), environ={}
    )
    # No network: the flush only empties the buffer, so what is timed is the tracing work.
    client.flush = lambda: (client.buffer.drain(), True)[1]  # type: ignore[method-assign]
    context = lambda_context()

    def bare(event: Any, context: Any) -> Dict[str, Any]:
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}

    traced = lambda_handler(bare)
    rows: Dict[str, Any] = {}
    for name in TRIGGERS:
        event = load_event(name)
        for _ in range(200):
            traced(event, context)
        base = median_us(functools.partial(bare, event, context), 31, inner=500)
        wrapped = median_us(functools.partial(traced, event, context), 31, inner=500)
        rows[name] = (wrapped, wrapped - base)
    return rows


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    rows = warm_overheads()
    cold: List[Tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, acceptor_process() as url:
        (Path(tmp) / "bench_fn.py").write_text(FUNCTION)
        env = {
            "INSTANA_ENDPOINT_URL": url,
            "INSTANA_AGENT_KEY": KEY,
            "LAMBDA_HANDLER": "bench_fn.handler",
            "AWS_LAMBDA_FUNCTION_NAME": "bench",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "PYTHONPATH": os.pathsep.join((tmp, str(ROOT))),
        }
        # A layer is read-only at /opt: without a bytecode cache every cold start compiles
        # our modules. With one is what a deployment package with compiled files gets.
        for label, bytecode in (("no bytecode cache (layer)", False), ("bytecode cache", True)):
            layer_import = fresh_process_ms(LAYER_IMPORT, runs, env, bytecode=bytecode)
            layer_first = fresh_process_ms(LAYER_FIRST_INVOCATION, runs, env, bytecode=bytecode)
            bare_first = fresh_process_ms(BARE_FIRST_INVOCATION, runs, env, bytecode=bytecode)
            cold += [
                (f"{label}: import instana_serverless.lambda_layer", f"{layer_import:.2f} ms"),
                (f"{label}: import + first invocation incl. flush", f"{layer_first:.2f} ms"),
                (f"{label}: bare import + first invocation", f"{bare_first:.2f} ms"),
                (f"{label}: cold start overhead", f"{layer_first - bare_first:.2f} ms"),
            ]

    print("instana-serverless AWS Lambda benchmark (medians)")
    print("warm invocation, tracing work only (no flush): traced handler / overhead vs bare")
    print(
        table(
            [(name, f"{total:6.1f} us  (+{extra:.1f} us)") for name, (total, extra) in rows.items()]
        )
    )
    print("cold start of the layer handler (fresh process)")
    print(table(cold))


if __name__ == "__main__":
    main()
