"""Core figures: import + configure, cold start, warm overhead against a raw keep-alive POST.

    .venv/bin/python bench/core.py

Prints figures only; nothing passes or fails. All numbers come from one run, so ratios
between them are meaningful even on a noisy machine.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import KEY, acceptor_process, fresh_process_ms, median_us, table

IMPORT_AND_WRAP = """
import time
t = time.perf_counter()
import instana_serverless as instana
client = instana.configure()
print((time.perf_counter() - t) * 1000)
"""

COLD_TRACED = """
import time
t = time.perf_counter()
import instana_serverless as instana
instana.configure()
with instana.entry_span("cold"):
    sum(range(100))
print((time.perf_counter() - t) * 1000)
"""

COLD_BARE = """
import time
t = time.perf_counter()
sum(range(100))
print((time.perf_counter() - t) * 1000)
"""


def main() -> None:
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    with acceptor_process() as url:
        env = {"INSTANA_ENDPOINT_URL": url, "INSTANA_AGENT_KEY": KEY}
        import_ms = fresh_process_ms(IMPORT_AND_WRAP, runs, env)
        cold_traced = fresh_process_ms(COLD_TRACED, runs, env)
        cold_bare = fresh_process_ms(COLD_BARE, runs, env)
        import_ms_compiled = fresh_process_ms(IMPORT_AND_WRAP, runs, env, bytecode=False)
        cold_traced_compiled = fresh_process_ms(COLD_TRACED, runs, env, bytecode=False)

        import instana_serverless as instana

        os.environ.update(env)
        client = instana.configure()
        for _ in range(50):  # warm the connection and caches
            with instana.entry_span("warm"):
                pass

        def traced_with_flush() -> None:
            with instana.entry_span("warm"):
                pass

        def traced_no_flush() -> None:
            with instana.entry_span("warm", flush=False):
                pass
            client.buffer.drain()

        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port))
        with instana.entry_span("sample", flush=False):
            pass
        body = json.dumps(
            {
                "spans": [s.to_wire(client.reporter.source) for s in client.buffer.drain()],
                "metrics": {"plugins": [client.reporter.plugin_sources[0]()]},
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "X-Instana-Key": KEY, "X-Instana-Host": "h"}

        def raw_post() -> None:
            conn.request("POST", "/bundle", body=body, headers=headers)
            conn.getresponse().read()

        for _ in range(50):
            raw_post()
        rounds = 30
        floor = median_us(raw_post, rounds, inner=20)
        with_flush = median_us(traced_with_flush, rounds, inner=20)
        no_flush = median_us(traced_no_flush, rounds, inner=200)

    print("instana-serverless core benchmark (medians)")
    print(
        table(
            [
                ("import + configure (fresh process)", f"{import_ms:.2f} ms"),
                ("cold start traced, incl. first flush", f"{cold_traced:.2f} ms"),
                ("cold start bare handler", f"{cold_bare:.3f} ms"),
                ("cold start overhead", f"{cold_traced - cold_bare:.2f} ms"),
                ("import + configure, no bytecode cache", f"{import_ms_compiled:.2f} ms"),
                (
                    "cold start overhead, no bytecode cache",
                    f"{cold_traced_compiled - cold_bare:.2f} ms",
                ),
                ("raw keep-alive POST (floor)", f"{floor:.1f} us"),
                ("warm traced invocation incl. flush", f"{with_flush:.1f} us"),
                ("  ratio to floor", f"{with_flush / floor:.2f}x"),
                ("warm tracing work, no flush", f"{no_flush:.1f} us"),
                ("bundle body bytes", f"{len(body)}"),
            ]
        )
    )


if __name__ == "__main__":
    main()
