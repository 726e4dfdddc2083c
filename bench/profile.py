"""AutoProfile figures: per-invocation overhead with profiling on vs off, and import cost off.

    .venv/bin/python bench/profile.py

A ``@lambda_handler`` that sleeps 40 ms and computes for about 40 ms of CPU (a fixed amount of
work, so time the sampler takes from it shows) is invoked against the acceptor in its own process,
alternating blocks with AutoProfile off and on so drift on a busy machine hits both alike.
Prints medians only; nothing passes or fails.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import KEY, acceptor_process, fresh_process_ms, median_us, table

IMPORT_AND_CONFIGURE = """
import time
t = time.perf_counter()
import instana_serverless as instana
instana.configure()
print((time.perf_counter() - t) * 1000)
"""

PROFILING_MODULES = """
import sys
import instana_serverless as instana
instana.configure()
with instana.entry_span("job", flush=False):
    pass
print(sum(1 for m in sys.modules if m.startswith("instana_serverless.profiling")))
"""


def _work_units_for(ms: float) -> int:
    """How many loop iterations take ``ms`` on this machine (calibrated once, off)."""
    units = 10_000
    while True:
        # The fastest of a few tries: a busy machine only ever makes a try slower.
        took = min(_ms(_compute, units) for _ in range(5))
        if took > 10:
            return int(units * ms / took)
        units *= 2


def _ms(function: Any, *args: Any) -> float:
    # CPU time: what the work costs, without the time other processes hold our core.
    start = time.process_time()
    function(*args)
    return (time.process_time() - start) * 1000


def _compute(units: int) -> int:
    total = 0
    for i in range(units):
        total += i * i % 7
    return total


def _wait() -> None:
    time.sleep(0.04)


def main() -> None:
    rounds = int(os.environ.get("BENCH_RUNS", "15"))
    import instana_serverless as instana
    from instana_serverless.aws_lambda import decorator
    from tests.lambda_fixtures import make_context

    units = _work_units_for(40)

    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        _wait()
        _compute(units)
        return None

    context = make_context(request_id="bench")
    with acceptor_process() as url:
        env = {"INSTANA_ENDPOINT_URL": url, "INSTANA_AGENT_KEY": KEY}
        walls: Dict[bool, List[float]] = {False: [], True: []}
        cpus: Dict[bool, List[float]] = {False: [], True: []}
        samples_taken = 0
        paired: List[float] = []  # per round: median on minus median off, in the same minute
        for _ in range(rounds):
            for on in (False, True):
                decorator._reset_for_tests()
                client = instana.configure(
                    instana.Options(endpoint_url=url, agent_key=KEY, auto_profile=on), environ={}
                )
                handler({}, context)  # connection and sampler thread up
                for _ in range(4):
                    wall, cpu = _timed(handler, context)
                    walls[on].append(wall)
                    cpus[on].append(cpu)
                if on and client.profiler is not None:
                    samples_taken = client.profiler.samples_taken
            paired.append(
                statistics.median(walls[True][-4:]) - statistics.median(walls[False][-4:])
            )

        off_work = _tracing_work(instana, url, on=False)
        on_work = _tracing_work(instana, url, on=True)
        import_off = fresh_process_ms(IMPORT_AND_CONFIGURE, rounds, env)
        import_on = fresh_process_ms(
            IMPORT_AND_CONFIGURE, rounds, {**env, "INSTANA_AUTO_PROFILE": "true"}
        )
        modules_off = fresh_process_ms(PROFILING_MODULES, 1, env)
        modules_on = fresh_process_ms(PROFILING_MODULES, 1, {**env, "INSTANA_AUTO_PROFILE": "1"})

    wall_off, wall_on = statistics.median(walls[False]), statistics.median(walls[True])
    cpu_off, cpu_on = statistics.median(cpus[False]), statistics.median(cpus[True])
    print("AutoProfile benchmark (medians; default interval 10 ms)")
    print(
        table(
            [
                ("invocation wall time, profiling off", f"{wall_off:.2f} ms"),
                ("invocation wall time, profiling on", f"{wall_on:.2f} ms"),
                (
                    "  overhead on vs off (wall, median of per-round differences)",
                    f"{statistics.median(paired):+.2f} ms "
                    f"({statistics.median(paired) / wall_off * 100:+.2f} %, noisy)",
                ),
                ("process CPU per invocation, off", f"{cpu_off:.2f} ms"),
                ("process CPU per invocation, on", f"{cpu_on:.2f} ms"),
                (
                    "  overhead on vs off (CPU, incl. sampler thread)",
                    f"{cpu_on - cpu_off:+.2f} ms ({(cpu_on - cpu_off) / wall_off * 100:+.2f} % "
                    "of the invocation)",
                ),
                ("stack samples taken in the last on-block", f"{samples_taken}"),
                ("tracing work per empty invocation, off (no flush)", f"{off_work:.1f} us"),
                ("tracing work per empty invocation, on (no flush)", f"{on_work:.1f} us"),
                ("import + configure, off (fresh process)", f"{import_off:.2f} ms"),
                ("import + configure, on (fresh process)", f"{import_on:.2f} ms"),
                ("profiling modules imported, off / on", f"{modules_off:.0f} / {modules_on:.0f}"),
            ]
        )
    )


def _timed(handler: Any, context: Any) -> Tuple[float, float]:
    cpu = time.process_time()
    start = time.perf_counter()
    handler({}, context)
    return (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000


def _tracing_work(instana: Any, url: str, *, on: bool) -> float:
    """An empty entry span without flush: the fixed cost of a session (begin, end, no samples)."""
    client = instana.configure(
        instana.Options(endpoint_url=url, agent_key=KEY, auto_profile=on), environ={}
    )

    def once() -> None:
        with instana.entry_span("empty", flush=False):
            pass
        client.buffer.drain()

    for _ in range(200):
        once()
    return median_us(once, 30, inner=200)


if __name__ == "__main__":
    main()
