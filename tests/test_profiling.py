"""AutoProfile: inferred spans from a real ``@lambda_handler`` through the real acceptor, their
timing against the truth, real exit spans not inferred again, profiles, fork, and nothing at
all when it is off."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Set, Tuple

import pytest
import requests

import instana_serverless as instana
from instana_serverless import doctor
from instana_serverless.acceptor.profiles import validate_profiles
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import decorator
from instana_serverless.client import Client, get_client
from instana_serverless.config import resolve
from instana_serverless.instrumentation import uninstrument
from instana_serverless.profiling import sampler as sampler_module
from instana_serverless.profiling.inferred import Run, after_measured_siblings, calls, significant
from tests.conftest import AGENT_KEY, configure_for
from tests.lambda_fixtures import load_event, make_context
from tests.modules import modules_loaded_by

INTERVAL_MS = 10
# What the sampler may lose to the machine: the GIL handed over late (5 ms switch interval),
# the sampler thread scheduled late on a busy 2-core machine.
SLACK_MS = 15

Truth = Dict[str, Tuple[float, float]]


@pytest.fixture
def profiled(acceptor: Acceptor) -> Iterator[Client]:
    decorator._reset_for_tests()
    client = configure_for(acceptor, timeout_ms=2000, auto_profile=True)
    assert client.profiler is not None
    yield client
    instana.configure(environ={})
    uninstrument()
    decorator._reset_for_tests()


def timed(truth: Truth, name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Records when the wrapped function really ran, measured by the test itself."""

    def wrap(body: Callable[[], Any]) -> Callable[[], Any]:
        start = time.perf_counter()
        try:
            return body()
        finally:
            truth[name] = (start, time.perf_counter())

    return wrap


def slow_part(truth: Truth) -> None:
    start = time.perf_counter()
    time.sleep(0.3)
    truth["slow_part"] = (start, time.perf_counter())


def parse(truth: Truth) -> int:
    start = time.perf_counter()
    end = time.process_time() + 0.2  # 200 ms of CPU, however long that takes on this machine
    count = 0
    while time.process_time() < end:
        count += 1
    truth["parse"] = (start, time.perf_counter())
    return count


def handler_with_hot_spots(truth: Truth) -> Callable[[Dict[str, Any], Any], Any]:
    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        slow_part(truth)
        parse(truth)
        return {"ok": True}

    return handler


def inferred(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if s["k"] == 3 and s["data"]["sdk"]["custom"]["tags"].get("inferred")]


def by_function(spans: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {s["data"]["sdk"]["name"].rsplit(".", 1)[1]: s for s in inferred(spans)}


def test_hot_spots_of_a_lambda_handler_become_inferred_spans(
    profiled: Client, acceptor: Acceptor
) -> None:
    truth: Truth = {}
    handler = handler_with_hot_spots(truth)
    handler(load_event("sqs"), make_context(request_id="req-hot"))
    spans = acceptor.wait_for_spans(3)
    (entry,) = [s for s in spans if s["k"] == 1]
    found = by_function(spans)
    assert sorted(found) == ["parse", "slow_part"], [s["data"]["sdk"]["name"] for s in spans[1:]]
    for name, function in (("slow_part", slow_part), ("parse", parse)):
        span = found[name]
        assert span["n"] == "sdk" and span["p"] == entry["s"] and span["t"] == entry["t"]
        sdk = span["data"]["sdk"]
        assert sdk["name"] == f"tests.test_profiling.{name}" and sdk["type"] == "intermediate"
        tags = sdk["custom"]["tags"]
        assert tags["inferred"] is True and tags["function"] == sdk["name"]
        assert tags["file"] == __file__ and tags["line"] == function.__code__.co_firstlineno
        assert tags["samples"] >= 5
        start, end = truth[name]
        real_ms = (end - start) * 1000
        # within half the sampling gap at each edge (+ whole-ms rounding on the wire), and
        # those gaps are one interval plus what the machine made the sampler wait
        uncertainty = tags["uncertainty_ms"]
        assert abs(span["d"] - real_ms) <= uncertainty + 1, (name, span["d"], real_ms, tags)
        assert uncertainty <= INTERVAL_MS + SLACK_MS, (name, tags)
        # placed where the call happened, inside the entry span
        assert entry["ts"] <= span["ts"] and span["ts"] + span["d"] <= entry["ts"] + entry["d"] + 1
    assert found["slow_part"]["ts"] < found["parse"]["ts"]
    # the handler itself is what the entry span measures: not inferred again
    assert not any(s["data"]["sdk"]["name"].endswith(".handler") for s in inferred(spans))


def load(truth: Truth) -> None:
    fetch(truth)
    decode(truth)


def fetch(truth: Truth) -> None:
    time.sleep(0.15)


def decode(truth: Truth) -> None:
    end = time.perf_counter() + 0.1
    while time.perf_counter() < end:
        pass


def test_inferred_spans_nest_as_the_stack_nests(profiled: Client, acceptor: Acceptor) -> None:
    truth: Truth = {}

    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        load(truth)
        time.sleep(0.05)
        return None

    handler({}, make_context(request_id="req-nested"))
    spans = acceptor.wait_for_spans(4)
    (entry,) = [s for s in spans if s["k"] == 1]
    found = by_function(spans)
    assert sorted(found) == ["decode", "fetch", "load"]
    assert found["load"]["p"] == entry["s"]
    assert found["fetch"]["p"] == found["decode"]["p"] == found["load"]["s"]
    assert found["load"]["d"] >= found["fetch"]["d"] + found["decode"]["d"] - 1


def many_small_steps() -> None:
    time.sleep(0.002)


def test_a_handler_without_a_hot_spot_yields_no_inferred_span(
    profiled: Client, acceptor: Acceptor
) -> None:
    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        for _ in range(60):
            many_small_steps()
        return None

    handler({}, make_context(request_id="req-flat"))
    acceptor.wait_for_spans(1)
    time.sleep(0.1)
    assert [s["k"] for s in acceptor.spans()] == [1]
    assert profiled.profiler is not None and profiled.profiler.samples_taken >= 5


def call_downstream(url: str) -> None:
    requests.post(url, data=b'{"spans":[]}', headers={"X-Instana-Key": AGENT_KEY}, timeout=5)


def test_a_real_exit_span_is_not_inferred_again(profiled: Client, acceptor: Acceptor) -> None:
    truth: Truth = {}
    with Acceptor(key=AGENT_KEY, delay_s=0.2) as slow_backend:

        @instana.lambda_handler
        def handler(event: Dict[str, Any], context: Any) -> Any:
            call_downstream(slow_backend.url + "/bundle")
            slow_part(truth)
            return None

        handler({}, make_context(request_id="req-exit"))
    spans = acceptor.wait_for_spans(3)
    exits = [s for s in spans if s["k"] == 2]
    assert [s["n"] for s in exits] == ["urllib3"] and exits[0]["d"] >= 190
    # neither the function around the call nor the library's frames inside it become spans
    assert list(by_function(spans)) == ["slow_part"]


def test_an_untraced_invocation_is_never_sampled(profiled: Client, acceptor: Acceptor) -> None:
    seen: List[bool] = []

    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        time.sleep(0.05)
        assert profiled.profiler is not None
        seen.append(profiled.profiler._running)
        return None

    event = load_event("api_gateway_rest")
    event["headers"]["X-INSTANA-L"] = "0"
    event["multiValueHeaders"]["X-INSTANA-L"] = ["0"]
    handler(event, make_context(request_id="req-suppressed"))
    assert seen == [False]
    assert profiled.profiler is not None and profiled.profiler.samples_taken == 0


def test_profiles_reach_the_local_acceptor_in_autoprofile_form(
    profiled: Client, acceptor: Acceptor
) -> None:
    truth: Truth = {}
    handler_with_hot_spots(truth)({}, make_context(request_id="req-profile"))
    (entry,) = [s for s in acceptor.wait_for_spans(3) if s["k"] == 1]
    deadline = time.monotonic() + 5
    while entry["t"] not in acceptor.profiles.snapshot()["traces"]:
        assert time.monotonic() < deadline, [r["path"] for r in acceptor.requests]
        time.sleep(0.05)
    snapshot = acceptor.profiles.snapshot()
    (profile,) = snapshot["traces"][entry["t"]]
    assert profile["spanId"] == entry["s"]
    assert {k: profile[k] for k in ("pid", "runtime", "category", "type", "unit")} == {
        "pid": str(os.getpid()),
        "runtime": "python",
        "category": "time",
        "type": "blocking-calls",
        "unit": "millisecond",
    }
    assert len(profile["id"]) == 36 and profile["timestamp"] > 1_600_000_000_000
    (root,) = profile["roots"]
    assert root["method_name"].endswith(".handler")
    children = {c["method_name"].rsplit(".", 1)[1]: c for c in root["children"]}
    assert set(children) == {"slow_part", "parse"}
    for name, want_ms in (
        ("slow_part", 300),
        ("parse", (truth["parse"][1] - truth["parse"][0]) * 1000),
    ):
        site = children[name]
        assert abs(site["measurement"] - want_ms) <= INTERVAL_MS + 2 * SLACK_MS, (name, site)
        assert site["num_samples"] >= 5 and site["file_name"] == __file__
        assert set(site) == {
            "method_name",
            "file_name",
            "file_line",
            "measurement",
            "num_samples",
            "children",
        }
    (process,) = snapshot["processes"]
    assert process["pid"] == str(os.getpid()) and process["roots"]
    assert validate_profiles({"profiles": [{"scope": "process", "profile": process}]}) == []


def test_profiles_go_nowhere_but_a_loopback_acceptor() -> None:
    remote = instana.configure(
        instana.Options(
            endpoint_url="https://serverless.example.invalid", agent_key="k", auto_profile=True
        ),
        environ={},
    )
    try:
        assert remote.profiler is not None
        assert sampler_module.exports_to(remote) is False
        assert remote.profiler.send(remote) is False
    finally:
        instana.configure(environ={})


def test_acceptor_refuses_malformed_profiles(acceptor: Acceptor) -> None:
    def post(body: Any, key: str = AGENT_KEY) -> Tuple[int, str]:
        request = urllib.request.Request(
            acceptor.url + "/profiles",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Instana-Key": key},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, ""
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    site = {
        "method_name": "m",
        "file_name": "f.py",
        "file_line": 1,
        "measurement": 5,
        "num_samples": 1,
        "children": [],
    }
    profile = {
        "pid": "1",
        "id": "x",
        "runtime": "python",
        "category": "time",
        "type": "blocking-calls",
        "unit": "millisecond",
        "roots": [site],
        "duration": 5,
        "timespan": 5,
        "timestamp": 1,
    }
    good = {
        "profiles": [
            {"scope": "trace", "traceId": "a" * 16, "spanId": "b" * 16, "profile": profile}
        ]
    }
    assert post(good, key="wrong")[0] == 401
    status, reason = post(
        {
            "profiles": [
                {
                    "scope": "trace",
                    "traceId": "nothex",
                    "spanId": "b" * 16,
                    "profile": {**profile, "roots": [{**site, "num_samples": -1}]},
                }
            ]
        }
    )
    assert status == 400 and "traceId" in reason and "num_samples" in reason
    assert post(good) == (204, "")
    assert list(acceptor.profiles.snapshot()["traces"]) == ["a" * 16]


# --- the pure parts ---------------------------------------------------------------------


def test_call_edges_are_half_way_between_samples_and_nesting_follows_frames() -> None:
    code_a = slow_part.__code__
    code_b = parse.__code__
    outer = ((1, code_a),)
    inner = ((1, code_a), (2, code_b))
    runs = [Run(0.010, outer, 0, 0.01), Run(0.020, inner, 0, 0.01), Run(0.050, outer, 0, 0.01)]
    runs[1].last = 0.040
    runs[1].count = 3
    found = calls(runs, start=0.0, end=0.070)
    a, b = found
    assert (a.start, a.end) == pytest.approx((0.005, 0.060)) and a.samples == 5
    assert (b.start, b.end) == pytest.approx((0.015, 0.045)) and b.parent is a and b.samples == 3
    kept = significant(found, min_s=0.02, covered=[], slack_s=0.01)
    assert [(call.code, parent) for call, parent in kept] == [(code_a, None), (code_b, a)]
    # inside a real exit span: not inferred; shorter than the minimum: not inferred
    assert significant(found, min_s=0.02, covered=[(0.0, 0.06)], slack_s=0.01) == []
    assert [c.code for c, _ in significant(found, 0.04, [], 0.01)] == [code_a]


def test_settings_parse_and_doctor_reports_rate() -> None:
    config = resolve(
        environ={
            "INSTANA_AUTO_PROFILE": "true",
            "INSTANA_AUTO_PROFILE_INTERVAL_MS": "5",
            "INSTANA_AUTO_PROFILE_MIN_MS": "50",
            "INSTANA_AUTO_PROFILE_MIN_PERCENT": "25%",
        }
    )
    assert (config.auto_profile, config.auto_profile_interval_ms) == (True, 5)
    assert (config.auto_profile_min_ms, config.auto_profile_min_percent) == (50, 25)
    defaults = resolve(environ={"INSTANA_AUTO_PROFILE_INTERVAL_MS": "0"})
    assert (defaults.auto_profile_interval_ms, defaults.auto_profile_min_percent) == (10, 10)
    # the environment wins for the switch itself, as for the official sensors
    assert (
        resolve(instana.Options(auto_profile=True), {"INSTANA_AUTO_PROFILE": "no"}).auto_profile
        is False
    )

    env = {"INSTANA_ENDPOINT_URL": "http://127.0.0.1:9", "INSTANA_AGENT_KEY": "key-123456"}
    report = doctor.diagnose({**env, "INSTANA_AUTO_PROFILE": "1"}, network=False)
    texts = [f.text for s in report.sections for f in s.findings]
    assert any("AutoProfile on: one stack sample every 10 ms (100 per second)" in t for t in texts)
    assert any("not sent to Instana" in t for t in texts)
    configuration = report.section("configuration")
    assert configuration is not None and configuration.data["profiling"]["on"] is True
    off = doctor.diagnose(env, network=False)
    assert any("AutoProfile off" in f.text for s in off.sections for f in s.findings)


# --- off means off; fork -----------------------------------------------------------------

RUN_ONE = """
import _thread, os, sys, time
import instana_serverless as instana
instana.configure(instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="k", timeout_ms=50))
with instana.entry_span("job", flush=False):
    time.sleep(0.05)
print("threads", _thread._count())
"""


def test_off_imports_nothing_and_starts_no_thread() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTANA_")}
    off = subprocess.run(
        [sys.executable, "-c", RUN_ONE + "print(sorted(m for m in sys.modules if 'profil' in m))"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split("\n")
    assert off[-3:-1] == ["threads 0", "[]"], off
    on = subprocess.run(
        [sys.executable, "-c", RUN_ONE],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "INSTANA_AUTO_PROFILE": "true"},
    ).stdout
    assert "threads 1" in on  # the sampler: what "off" must not start
    assert (
        modules_loaded_by("import instana_serverless", prefixes=("instana_serverless.profiling",))
        == []
    )


def _child_infers_spans_then_exits(client: Client) -> None:
    code = 1
    try:
        truth: Truth = {}
        with instana.entry_span("child.work", flush=False):
            slow_part(truth)
        names = [s.data.get("sdk", {}).get("name") for s in client.buffer.drain()]
        code = 0 if "tests.test_profiling.slow_part" in names else 3
    finally:
        os._exit(code)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_samples_with_a_sampler_of_its_own(profiled: Client) -> None:
    truth: Truth = {}
    with instana.entry_span("parent.work", flush=False):
        slow_part(truth)
    assert profiled.profiler is not None and profiled.profiler._running
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child_infers_spans_then_exits(get_client())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def background_job(stop: threading.Event) -> None:
    while not stop.is_set():
        time.sleep(0.005)


def test_on_fargate_the_whole_process_is_profiled_continuously(profiled: Client) -> None:
    from instana_serverless.fargate.reporter import FargateReporter
    from tests.test_fargate_reporter import EcsMetadataEmulator, fargate_env

    profiler = profiled.profiler
    assert profiler is not None and not profiler.continuous
    with EcsMetadataEmulator() as ecs:
        FargateReporter(fargate_env(ecs)).tick()
    assert profiler.continuous and profiler._running
    stop = threading.Event()
    worker = threading.Thread(target=background_job, args=(stop,), name="untraced-worker")
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while True:
            names = json.dumps(profiler.process_profile()["roots"])
            if "tests.test_profiling.background_job" in names:
                break
            assert time.monotonic() < deadline, names[:500]
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()


# --- the import table in docs/ARCHITECTURE.md ----------------------------------------------


def _imports(path: Path, package: str) -> Tuple[Set[str], Set[str]]:
    """(module-level, function-level) imports of our own package by the module at ``path``;
    imports under ``if TYPE_CHECKING:`` are for the type checker only and do not count."""
    tree = ast.parse(path.read_text())
    top: Set[str] = set()
    lazy: Set[str] = set()

    def name_of(node: ast.ImportFrom) -> str:
        if node.level == 0:
            return node.module or ""
        base = package.split(".")
        base = base[: len(base) - node.level + 1]
        return ".".join([*base, *([node.module] if node.module else [])])

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.ImportFrom):
                found = name_of(child)
                names = [found] + [f"{found}.{alias.name}" for alias in child.names]
                (lazy if in_function else top).update(
                    n for n in names if n.startswith("instana_serverless")
                )
            elif isinstance(child, ast.Import):
                (lazy if in_function else top).update(
                    a.name for a in child.names if a.name.startswith("instana_serverless")
                )
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return top, lazy


def test_nothing_imports_profiling_eagerly_and_the_acceptor_shares_none_of_it() -> None:
    """tests/test_architecture.py checks who may import whom; this checks *when*: only the
    client imports ``profiling``, inside a function, when AutoProfile is on."""
    package = Path(instana.__file__).parent
    importers = []
    for path in package.rglob("*.py"):
        if "profiling" in path.parts:
            continue
        top, lazy = _imports(path, "instana_serverless." + path.stem)
        assert not [n for n in top if ".profiling" in n], path
        if [n for n in lazy if ".profiling" in n]:
            importers.append(path.name)
    assert importers == ["client.py"]
    acceptor_top, acceptor_lazy = _imports(
        package / "acceptor" / "profiles.py", "instana_serverless.acceptor"
    )
    assert acceptor_top | acceptor_lazy == set()


def _sampled_call(profiler: Any, session: Any) -> None:
    # What the sampler thread does, done from inside the call so the test controls the timing.
    profiler._sample(session, sys._getframe(), time.perf_counter(), 0.01)


def test_two_calls_of_one_function_are_two_calls_even_at_the_same_address() -> None:
    """A finished call's frame is freed and the next call of the same function may get its
    address: without holding the last sample's frames, the two calls would merge into one
    long inferred span (a loop of short calls looking like a hot spot)."""
    from instana_serverless.config import Config
    from instana_serverless.profiling.sampler import Profiler, Session
    from instana_serverless.tracer import start_entry

    profiler = Profiler(Config(auto_profile=True))
    entry = start_entry("job", on_finish=None)
    session = Session(profiler, entry, lambda span: None)
    session.base = {}
    for _ in range(20):
        _sampled_call(profiler, session)
    # each sample a run of its own: consecutive samples never share a leaf frame id
    leaves = [run.stack[-1][0] for run in session.runs]
    assert len(session.runs) == 20 and all(a != b for a, b in zip(leaves, leaves[1:]))
    found = calls(session.runs, entry._perf_start, time.perf_counter())
    assert [c.code.co_name for c in found].count("_sampled_call") == 20
    profiler.stop()


# --- issue 19: imports are one span; inferred spans follow measured siblings ----------------

SLOW_MODULE = "instana_obs_slow_import"


def handler_that_imports() -> Callable[[Dict[str, Any], Any], Any]:
    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        import instana_obs_slow_import  # noqa: F401  (the import the test looks for)

        return None

    return handler


def test_an_import_is_one_span_at_the_importing_line(
    profiled: Client, acceptor: Acceptor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / f"{SLOW_MODULE}.py").write_text(
        "import time\n\nend = time.process_time() + 0.25\nwhile time.process_time() < end:\n"
        "    pass\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, SLOW_MODULE, raising=False)
    try:
        handler_that_imports()({}, make_context(request_id="req-import"))
    finally:
        sys.modules.pop(SLOW_MODULE, None)
    spans = acceptor.wait_for_spans(2)
    names = [s["data"]["sdk"]["name"] for s in inferred(spans)]
    assert names == [f"import {SLOW_MODULE}"], names
    assert not any("importlib" in n or "_bootstrap" in n for n in names)
    tags = inferred(spans)[0]["data"]["sdk"]["custom"]["tags"]
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    import_line = (
        lines.index(f"        import {SLOW_MODULE}  # noqa: F401  (the import the test looks for)")
        + 1
    )
    assert (tags["file"], tags["line"]) == (__file__, import_line)
    assert inferred(spans)[0]["d"] >= 200


def test_an_inferred_span_never_starts_before_a_measured_sibling_before_it(
    profiled: Client, acceptor: Acceptor
) -> None:
    truth: Truth = {}

    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        with instana.span("measured"):
            time.sleep(0.008)
        slow_part(truth)
        return None

    for number in range(5):
        handler({}, make_context(request_id=f"req-order-{number}"))
    spans = acceptor.wait_for_spans(15)
    by_trace: Dict[str, List[Dict[str, Any]]] = {}
    for span in spans:
        by_trace.setdefault(span["t"], []).append(span)
    assert len(by_trace) == 5
    for members in by_trace.values():
        (measured,) = [s for s in members if s["data"].get("sdk", {}).get("name") == "measured"]
        (found,) = inferred(members)
        assert found["p"] == measured["p"]  # siblings under the entry span
        # whole milliseconds on the wire: ts is floored, d rounded
        assert found["ts"] >= measured["ts"] + measured["d"] - 1, (measured, found)


def test_inferred_starts_follow_measured_siblings_and_children_follow_parents() -> None:
    code_a, code_b = slow_part.__code__, parse.__code__
    runs = [Run(0.030, ((1, code_a),), 0, 0.01), Run(0.040, ((1, code_a), (2, code_b)), 0, 0.01)]
    runs[1].last = 0.090
    found = calls(runs, start=0.0, end=0.100)
    kept = significant(found, min_s=0.01, covered=[], slack_s=0.01)
    a, b = found
    assert a.start == pytest.approx(0.015) and b.start == pytest.approx(0.035)
    # a measured span under the entry ran from 10 to 25 ms, before the first sample of a
    placed = after_measured_siblings(kept, [(0.010, 0.025), (0.050, 0.060)])
    assert placed[0] == pytest.approx((0.025, a.end))  # not before the measured sibling
    assert placed[1] == pytest.approx((0.035, b.end))
    # one that ended after a was first seen ran inside a: no constraint
    assert after_measured_siblings(kept, [(0.020, 0.032)])[0][0] == pytest.approx(0.015)
    # a child never starts before its parent: both first seen in one sample
    both = [Run(0.030, ((1, code_a), (2, code_b)), 0, 0.01)]
    both[0].last = 0.090
    together = significant(calls(both, start=0.0, end=0.100), 0.01, [], 0.01)
    placed = after_measured_siblings(together, [(0.010, 0.025)])
    assert placed[0][0] == pytest.approx(0.025) and placed[1][0] == pytest.approx(0.025)
