"""AWS Lambda, extension mode vs flush before return, with the backend 100 ms away.

    .venv/bin/python bench/lambda_extension.py

The real ``awslambdaric`` runs under the Runtime API emulator (``demo/lambda_runtime.py``),
which freezes the sandbox (SIGSTOP of its process group) once the runtime and every extension
wait for their next event, as Lambda does. Per invocation it records when the invoke was
queued, when the runtime posted the response (what the caller waits for) and when the sandbox
froze (the end of the billed duration). Three functions in one run: a bare handler, ours in
extension mode (the default) and ours with ``INSTANA_LAMBDA_EXTENSION=false`` (flush before
return). Also: the init (cold start) of each, to the first freeze, and the timeout guard's
cost per warm invocation with a real flush. Medians only; nothing passes or fails.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import KEY, acceptor_process, lambda_context, median_us, table
from demo.backend import SlowBackend, self_signed
from demo.lambda_runtime import Invocation, RuntimeAPI, start_runtime

BACKEND_DELAY_S = 0.1
APP = """
def handle(event, context):
    return {"statusCode": 200, "body": "ok"}
"""
LAYER_HANDLER = "instana_serverless.lambda_layer.handler"

MODES: Dict[str, Tuple[str, Dict[str, str]]] = {
    "bare handler (no tracing)": ("app.handle", {}),
    "ours, extension mode": (LAYER_HANDLER, {"LAMBDA_HANDLER": "app.handle"}),
    "ours, flush before return": (
        LAYER_HANDLER,
        {"LAMBDA_HANDLER": "app.handle", "INSTANA_LAMBDA_EXTENSION": "false"},
    ),
}


def _median_ms(values: List[float]) -> float:
    return statistics.median(values) * 1000


def warm(code: Path, backend_url: str, handler: str, env: Dict[str, str], rounds: int) -> Any:
    """(response ms, frozen ms) medians over ``rounds`` warm invocations, and the extensions
    that registered."""
    settings = {"INSTANA_ENDPOINT_URL": backend_url, "INSTANA_AGENT_KEY": KEY, **env}
    answered: List[float] = []
    frozen: List[float] = []
    with RuntimeAPI() as api:
        proc = start_runtime(api, handler, code_dir=code, env=settings)
        try:
            for index in range(rounds + 3):
                invocation = api.submit(Invocation({"n": index}))
                if not (invocation.done.wait(30) and invocation.frozen.wait(10)):
                    raise RuntimeError(f"{handler}: invocation {index} did not complete")
                if index >= 3:  # the first ones open connections and warm caches
                    answered.append(invocation.answered_at - invocation.submitted_at)
                    frozen.append(invocation.frozen_at - invocation.submitted_at)
                time.sleep(0.005)
            extensions = [e.name for e in api.extensions]
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
    return _median_ms(answered), _median_ms(frozen), extensions


def init_ms(code: Path, backend_url: str, handler: str, env: Dict[str, str]) -> float:
    """From starting the runtime process to the end of its init: the first freeze, when the
    runtime and every extension wait for their first event (nothing is queued yet)."""
    settings = {"INSTANA_ENDPOINT_URL": backend_url, "INSTANA_AGENT_KEY": KEY, **env}
    with RuntimeAPI() as api:
        started = time.monotonic()
        proc = start_runtime(api, handler, code_dir=code, env=settings)
        try:
            deadline = started + 30
            while api.freezes_done < 1 and time.monotonic() < deadline:
                time.sleep(0.0002)
            return (time.monotonic() - started) * 1000
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


def guard_cost(url: str) -> Tuple[float, float, int]:
    """Warm invocation incl. its flush to a real backend (µs), timeout guard armed vs not (one
    client and handler, the margin switched between rounds), and how often the guard thread
    woke up meanwhile. The context is re-used, so every invocation has the same deadline."""
    import instana_serverless as instana
    from instana_serverless.aws_lambda import lambda_handler
    from instana_serverless.aws_lambda.timeout_guard import guard

    context = lambda_context()
    client = instana.configure(instana.Options(endpoint_url=url, agent_key=KEY), environ={})

    @lambda_handler
    def handler(event: Any, context: Any) -> Dict[str, int]:
        return {"statusCode": 200}

    for _ in range(300):
        handler({}, context)
    before = guard().wakeups
    armed: List[float] = []
    unarmed: List[float] = []
    for index in range(40):  # interleaved, so drift of a busy machine hits both alike
        for margin in (200, 0) if index % 2 else (0, 200):
            client.config.timeout_margin_ms = margin
            sample = median_us(lambda: handler({}, context), 5, inner=50)
            (armed if margin else unarmed).append(sample)
    return statistics.median(armed), statistics.median(unarmed), guard().wakeups - before


def main() -> None:
    rounds = int(os.environ.get("BENCH_RUNS", "25"))
    results: Dict[str, Any] = {}
    inits: Dict[str, List[float]] = {label: [] for label in MODES}
    with tempfile.TemporaryDirectory() as tmp, SlowBackend(BACKEND_DELAY_S, key=KEY) as backend:
        code = Path(tmp)
        (code / "app.py").write_text(APP)
        for label, (handler, env) in MODES.items():
            results[label] = warm(code, backend.url, handler, env, rounds)
        # The same against https (a self-signed certificate, so no CA check): the flush then
        # also pays TLS, once per connection.
        with SlowBackend(BACKEND_DELAY_S, key=KEY, tls=self_signed(code)) as tls_backend:
            for label, (handler, env) in list(MODES.items())[1:]:
                insecure = {**env, "INSTANA_DISABLE_CA_CHECK": "true"}
                results[f"{label}, https"] = warm(code, tls_backend.url, handler, insecure, rounds)
        for _ in range(max(5, rounds // 3)):  # interleaved: a busy machine hits all alike
            for label, (handler, env) in MODES.items():
                inits[label].append(init_ms(code, backend.url, handler, env))
    with acceptor_process() as url:
        armed, unarmed, wakeups = guard_cost(url)

    bare = "bare handler (no tracing)"
    bare_answer, bare_frozen, _ = results[bare]
    bare_init = statistics.median(inits[bare])
    rows = []
    for label, (answer, frozen, extensions) in results.items():
        shown = f" [extensions: {', '.join(extensions)}]" if extensions else ""
        init = (
            f"init {statistics.median(inits[label]):6.1f} ms "
            f"(+{statistics.median(inits[label]) - bare_init:5.1f})"
            if label in inits
            else ""
        )
        rows.append(
            (
                label + shown,
                f"response {answer:7.2f} ms (+{answer - bare_answer:6.2f})   "
                f"frozen {frozen:7.2f} ms (+{frozen - bare_frozen:6.2f})   {init}",
            )
        )
    print(
        f"instana-serverless Lambda extension benchmark (medians of {rounds} warm invocations, "
        f"{len(inits[bare])} inits; the backend answers after {BACKEND_DELAY_S * 1000:.0f} ms)"
    )
    print(
        "invoke -> response seen by the caller / invoke -> sandbox frozen (billed) / "
        "process start -> init done"
    )
    print(table(rows))
    print("timeout guard, warm invocation incl. flush to the acceptor (in process)")
    print(
        table(
            [
                ("guard armed", f"{armed:.1f} us"),
                ("guard off (INSTANA_LAMBDA_TIMEOUT_MARGIN_MS=0)", f"{unarmed:.1f} us"),
                ("guard thread wake-ups in 5000 armed invocations", f"{wakeups}"),
            ]
        )
    )


if __name__ == "__main__":
    main()
