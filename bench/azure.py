"""Azure Functions: per-invocation overhead of ``@azure_function`` on an HTTP function.

    .venv/bin/python bench/azure.py

Prints medians only; nothing passes or fails. The function is called the way the worker
calls it (keyword arguments, a real ``func.HttpRequest`` and a context with a trace
context); spans go over loopback HTTP to the acceptor running in its own process.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict

_HERE = Path(__file__).resolve().parent
# Run as a script, this file's directory comes first on sys.path and "azure" would be this
# file instead of the azure namespace package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench._support import KEY, acceptor_process, fresh_process_ms, median_us, table  # noqa: E402

IMPORT_AZURE = """
import time
import azure.functions
t = time.perf_counter()
from instana_serverless.azure import azure_function
print((time.perf_counter() - t) * 1000)
"""

FIRST_CALL = """
import time
import azure.functions as func
t = time.perf_counter()
from instana_serverless.azure import azure_function

@azure_function
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("hi")

hello(req=func.HttpRequest("GET", "https://a.azurewebsites.net/api/hello", body=b""))
print((time.perf_counter() - t) * 1000)
"""


def _functions() -> Dict[str, Any]:
    import azure.functions as func

    def hello(req: func.HttpRequest, context: Any) -> func.HttpResponse:
        return func.HttpResponse(f"hello {req.params.get('name')}", status_code=200)

    async def hello_async(req: func.HttpRequest, context: Any) -> func.HttpResponse:
        return hello(req, context)

    request = func.HttpRequest(
        "GET",
        "https://bench.azurewebsites.net/api/hello?name=ann&code=k",
        headers={"host": "bench.azurewebsites.net", "user-agent": "bench"},
        params={"name": "ann", "code": "k"},
        body=b"",
    )
    return {"hello": hello, "hello_async": hello_async, "request": request}


class _TraceContext:
    trace_parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    trace_state = ""


class _Context:
    """Stand-in for the worker's Context (the worker is not installed here)."""

    function_name = "hello"
    invocation_id = "inv"
    trace_context = _TraceContext()


def main() -> None:
    import asyncio

    import instana_serverless as instana
    from instana_serverless.azure import azure_function

    os.environ.update(
        WEBSITE_OWNER_NAME="sub+rg-WestEuropewebspace",
        WEBSITE_RESOURCE_GROUP="rg",
        WEBSITE_SITE_NAME="bench",
    )
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "300"))
    parts = _functions()
    hello, request, context = parts["hello"], parts["request"], _Context()
    wrapped = azure_function(hello)
    wrapped_async = azure_function(parts["hello_async"])

    def call(fn: Callable[..., Any]) -> Callable[[], Any]:
        return lambda: fn(req=request, context=context)

    with acceptor_process() as url:
        with tempfile.TemporaryDirectory() as pycache:
            # Deployed apps run from bytecode: allow it (in a private cache) and warm it.
            env = {
                "INSTANA_ENDPOINT_URL": url,
                "INSTANA_AGENT_KEY": KEY,
                "PYTHONDONTWRITEBYTECODE": "",
                "PYTHONPYCACHEPREFIX": pycache,
                "WEBSITE_OWNER_NAME": "sub+rg-WestEuropewebspace",
                "WEBSITE_RESOURCE_GROUP": "rg",
                "WEBSITE_SITE_NAME": "bench",
            }
            fresh_process_ms(FIRST_CALL, 1, env)
            import_ms = fresh_process_ms(IMPORT_AZURE, runs, env)
            first_ms = fresh_process_ms(FIRST_CALL, runs, env)

        bare = median_us(call(hello), rounds, inner=20)

        instana.configure(instana.Options(agent_key=KEY), environ={})  # no endpoint: off
        disabled = median_us(call(wrapped), rounds, inner=20)

        client = instana.configure(instana.Options(endpoint_url=url, agent_key=KEY), environ={})
        for _ in range(50):  # warm the connection and caches
            wrapped(req=request, context=context)
        traced = median_us(call(wrapped), rounds)

        loop = asyncio.new_event_loop()
        try:
            for _ in range(20):
                loop.run_until_complete(wrapped_async(req=request, context=context))
            traced_async = median_us(
                lambda: loop.run_until_complete(wrapped_async(req=request, context=context)),
                rounds,
            )
            bare_async = median_us(
                lambda: loop.run_until_complete(parts["hello_async"](request, context)), rounds
            )
        finally:
            loop.close()

        # The tracing work alone: a client that records but does not send (spans pile up
        # in the bounded buffer, oldest dropped), so the flush costs nothing.
        client.reporting = False
        tracing_only = median_us(call(wrapped), rounds, inner=20)

    print("Azure Functions, HTTP function (medians)")
    print(
        table(
            [
                ("import instana_serverless.azure (fresh process)", f"{import_ms:.1f} ms"),
                ("import + wrap + first traced call + flush", f"{first_ms:.1f} ms"),
                ("bare function", f"{bare:.1f} µs"),
                ("wrapped, tracing off (no endpoint)", f"{disabled:.1f} µs"),
                ("wrapped, tracing work only (no send)", f"{tracing_only:.1f} µs"),
                ("wrapped, traced + flush to acceptor", f"{traced:.1f} µs"),
                ("bare async function (own loop run)", f"{bare_async:.1f} µs"),
                ("wrapped async, traced + flush in executor", f"{traced_async:.1f} µs"),
                ("overhead, tracing work", f"{tracing_only - bare:.1f} µs"),
                ("overhead, incl. flush", f"{traced - bare:.1f} µs"),
            ]
        )
    )


if __name__ == "__main__":
    main()
