"""Head to head on AWS Lambda: instana-serverless against the official sensor (PyPI ``instana``).

    .venv/bin/python bench/compare.py      (or: bench/run.py compare; make bench skips it)

Needs PyPI once: the official sensor goes into ``.bench-venv/`` (pinned, reused afterwards).
Every contender runs in fresh interpreters of that venv, rounds interleaved so machine noise
hits all alike, against one local acceptor on loopback (a real POST per flush, counted per
contender). Contenders, all handling the API Gateway REST fixture with a fake Lambda context:

- bare:       the handler alone (the baseline);
- ours:       ``@instana_serverless.lambda_handler`` on the handler;
- ours-layer: handler ``instana_serverless.lambda_layer.handler``, ``LAMBDA_HANDLER`` set;
- official:   handler ``instana.lambda_handler``, ``LAMBDA_HANDLER`` set (its documented
              Lambda set-up; it wraps the user handler when ``instana`` is imported).

Each side sees only its own package: ours via a folder holding just ``instana_serverless``
(as a layer's ``python/`` would), the official one from the venv's site-packages; the child
checks that neither loaded the other. Bytecode caches are warm for both (one untimed round).
Prints medians, ratios and observed defects; nothing passes or fails.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._compare_side import (
    Footprint,
    Side,
    ensure_venv,
    official_footprint,
    our_footprint,
)
from bench._support import KEY, ROOT

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_compare_child.py"
CONTENDERS = ("bare", "ours", "ours-layer", "official")
TRACED = CONTENDERS[1:]
FUNCTION = """
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}
"""
DECORATED = """
import instana_serverless


@instana_serverless.lambda_handler
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}
"""
SECRET_QUERY = ("password", "x")
LAMBDA_PLUGIN = "com.instana.plugin.aws.lambda"
TRACE_HEADERS = ("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate")


class Sandbox:
    """The function's files, each side's import path and the environment both sensors read."""

    def __init__(self, tmp: Path, side: Side, acceptor_url: str) -> None:
        self.side = side
        self.acceptor_url = acceptor_url
        task = tmp / "task"  # LAMBDA_TASK_ROOT: the function's code
        task.mkdir()
        (task / "fn_bare.py").write_text(FUNCTION)
        (task / "fn_ours.py").write_text(DECORATED)
        self.ours_layer = tmp / "opt-python"  # what our layer puts on sys.path
        self.ours_layer.mkdir()
        (self.ours_layer / "instana_serverless").symlink_to(ROOT / "instana_serverless")
        self.task = task
        with (ROOT / "tests" / "lambda_events" / "api_gateway_rest.json").open() as file:
            event = json.load(file)
        name, value = SECRET_QUERY
        event["queryStringParameters"][name] = value
        event["multiValueQueryStringParameters"][name] = [value]
        self.event = tmp / "event.json"
        self.event.write_text(json.dumps(event))

    def env(self, contender: str, key: bool = True) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "AWS_"))}
        for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV"):
            env.pop(name, None)
        path = [str(self.task)]
        if contender.startswith("ours"):
            path.append(str(self.ours_layer))
        env.update(
            PYTHONPATH=os.pathsep.join(path),
            INSTANA_ENDPOINT_URL=f"{self.acceptor_url}/{contender}",
            AWS_EXECUTION_ENV="AWS_Lambda_python3.11",
            AWS_REGION="eu-central-1",
            AWS_DEFAULT_REGION="eu-central-1",
            AWS_LAMBDA_FUNCTION_NAME="bench",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
            AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/bench",
            LAMBDA_TASK_ROOT=str(self.task),
            LAMBDA_HANDLER="fn_bare.handler",
            BENCH_EVENT=str(self.event),
            BENCH_ACCEPTOR=self.acceptor_url,
        )
        if key:
            env["INSTANA_AGENT_KEY"] = KEY
        return env

    def run(self, mode: str, contender: str, warm: int = 0, key: bool = True) -> Dict[str, Any]:
        proc = subprocess.run(
            [str(self.side.python), str(CHILD), mode, contender, str(warm)],
            capture_output=True,
            text=True,
            cwd=self.task,
            env=self.env(contender, key),
            timeout=300,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{contender} ({mode}) failed:\n{proc.stdout}\n{proc.stderr}")
        out: Dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        if out["foreign"]:
            raise SystemExit(f"{contender} loaded the other side's modules: {out['foreign']}")
        return out


def _posts(acceptor: Any, contender: str) -> List[Dict[str, Any]]:
    prefix = f"/{contender}/"
    return [r for r in acceptor.requests if r["path"].startswith(prefix)]


def measure(box: Sandbox, acceptor: Any, runs: int, warm: int) -> Dict[str, Any]:
    samples: Dict[str, Dict[str, List[float]]] = {c: {} for c in CONTENDERS}
    posts: Dict[str, List[int]] = {c: [] for c in CONTENDERS}
    statuses: Dict[str, Counter[int]] = {c: Counter() for c in CONTENDERS}
    for round_ in range(runs + 1):
        # Rotating the order keeps any position effect (cache, CPU clock) off one contender.
        shift = round_ % len(CONTENDERS)
        for contender in CONTENDERS[shift:] + CONTENDERS[:shift]:
            acceptor.clear()
            out = box.run("timing", contender, warm)
            if round_ == 0:  # fills the bytecode caches and the page cache
                continue
            for name in ("import_ms", "first_ms", "warm_us"):
                samples[contender].setdefault(name, []).append(out[name])
            received = _posts(acceptor, contender)
            posts[contender].append(len(received))
            statuses[contender].update(r["status"] for r in received)
    acceptor.clear()
    medians = {c: {k: statistics.median(v) for k, v in s.items()} for c, s in samples.items()}
    return {"medians": medians, "posts": posts, "statuses": statuses}


def _params(spans: Sequence[Dict[str, Any]]) -> str:
    for span in spans:
        http = (span.get("data") or {}).get("http") or {}
        if span.get("n") == "aws.lambda.entry" and http.get("params") is not None:
            return str(http["params"])
    return "(none)"


def observe(box: Sandbox, acceptor: Any) -> Dict[str, Dict[str, str]]:
    """The docs/CONTRACT.md §7 defects that one short run shows, per traced contender. Every row
    is put as a property: "yes" is what the contract asks for, "NO" marks the defect; details
    follow."""
    rows: Dict[str, Dict[str, str]] = {}
    name, value = SECRET_QUERY
    unmasked = re.compile(rf"{name}\W*=\W*{value}\b|{name}.{{0,4}}\[.{{0,2}}{value}")
    for contender in TRACED:
        acceptor.clear()
        out = box.run("defects", contender)
        bundles, posts = acceptor.bundles, _posts(acceptor, contender)
        spans = [s for b in bundles for s in b.get("spans") or []]
        plugins = [p for b in bundles for p in (b.get("metrics") or {}).get("plugins") or []]
        own = [s for s in spans if "/bundle" in str((s.get("data") or {}).get("http") or {})]
        injected = sorted({h for r in posts for h in TRACE_HEADERS if h in r["headers"]})
        hosts = sorted({r["headers"].get("x-instana-host", "") for r in posts})
        params = _params(spans)
        held = out["entry_spans_after_each"]
        acceptor.clear()
        nokey = box.run("nokey", contender, key=False)
        rows[contender] = {
            "entry span sent in its own invocation": f"{_yes(held == [1, 2, 3])} {held}",
            "reporter's POST untraced, no trace headers": _yes(not own and not injected)
            + (f" ({len(own)} spans, {len(injected)} headers)" if own or injected else ""),
            f"query masked (?{name}={value}, api_key)": _yes(
                not unmasked.search(params) and "s3cr3t" not in params
            ),
            "Lambda plugin sent": _yes(any(p.get("name") == LAMBDA_PLUGIN for p in plugins)),
            "agent key absent from bundles": _yes(KEY not in json.dumps(bundles)),
            "X-Instana-Host set on every POST": _yes(bool(posts) and "" not in hosts),
            "root logger untouched": _yes(not out["root_logger_changed"]),
            "handler runs without INSTANA_AGENT_KEY": _yes(nokey["ok"]),
            "details": "; ".join(
                part
                for part in (
                    f"entry spans held after calls 1,2,3: {held}",
                    f"params sent: {params}",
                    f"trace headers on its POSTs: {', '.join(injected)}" if injected else "",
                    f"X-Instana-Host values: {hosts}" if "" in hosts else "",
                    f"without a key: {nokey['error'].strip()}" if not nokey["ok"] else "",
                )
                if part
            ),
        }
    acceptor.clear()
    return rows


def _yes(good: bool) -> str:
    return "yes" if good else "NO"


def grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines
    )


def _ratio(official: float, ours: float) -> str:
    return f"{official / ours:.1f}x" if ours > 0 else "n/a"


def report_timing(result: Dict[str, Any], runs: int, warm: int) -> None:
    med = result["medians"]
    bare = med["bare"]

    def over(contender: str, key: str) -> float:
        return float(med[contender][key] - bare[key])

    header = ["", "bare", "ours", "ours-layer", "official", "official/ours"]
    rows = []
    for label, key, unit, fmt in (
        ("import + wrap", "import_ms", "ms", "{:.2f}"),
        ("cold start (import+wrap+1st call+flush)", "first_ms", "ms", "{:.2f}"),
        ("warm invocation incl. flush", "warm_us", "us", "{:.0f}"),
    ):
        rows.append(
            [f"{label}, {unit}"]
            + [fmt.format(med[c][key]) for c in CONTENDERS]
            + [_ratio(med["official"][key], med["ours"][key])]
        )
        rows.append(
            [f"  overhead over bare, {unit}", "-"]
            + [fmt.format(over(c, key)) for c in TRACED]
            + [_ratio(over("official", key), over("ours", key))]
        )
    print(f"medians over {runs} fresh processes each; warm = median of {warm} invocations")
    print(grid(header, rows))
    print("POSTs received per process (min-max) and status codes:")
    invocations = warm + 1
    for contender in CONTENDERS:
        counts = result["posts"][contender]
        statuses = dict(sorted(result["statuses"][contender].items()))
        print(
            f"  {contender:<11} {min(counts)}-{max(counts)} POSTs for {invocations} invocations"
            f"  {statuses or ''}"
        )


def report_footprint(ours: Footprint, official: Footprint) -> None:
    rows = [
        ["ours", f"{ours.zip_bytes / 1024:.1f}", f"{ours.unpacked_bytes / 1024:.1f}", "-"],
        [
            "official",
            f"{official.zip_bytes / 1024:.1f}",
            f"{official.unpacked_bytes / 1024:.1f}",
            f"{official.zip_bytes / ours.zip_bytes:.1f}x",
        ],
    ]
    print(grid(["layer contents", "zip KiB", "unpacked KiB", "official/ours"], rows))
    print(f"  official ships: {', '.join(official.shipped)}")
    skipped = ", ".join(official.skipped) or "none installed"
    print(f"  not counted (already in the Lambda python runtime): {skipped}")


def main() -> None:
    from instana_serverless.acceptor.server import Acceptor

    runs = int(os.environ.get("BENCH_RUNS", "15"))
    warm = int(os.environ.get("BENCH_WARM", "300"))
    side = ensure_venv()
    print(f"official sensor: instana {side.version} (PyPI, in {side.python.parent.parent.name}/)")
    print(f"interpreter for every contender: {side.python} (python {side.python_version})")
    python = os.path.relpath(sys.executable, ROOT)
    print(f"command: BENCH_RUNS={runs} BENCH_WARM={warm} {python} bench/compare.py")
    ours_fp, official_fp = our_footprint(), official_footprint(side.site_packages)
    with tempfile.TemporaryDirectory() as tmp, Acceptor(key=KEY) as acceptor:
        box = Sandbox(Path(tmp), side, acceptor.url)
        timing = measure(box, acceptor, runs, warm)
        defects = observe(box, acceptor)

    print("\n== AWS Lambda, API Gateway REST event, flush to a loopback acceptor ==")
    report_timing(timing, runs, warm)
    print("\n== layer footprint ==")
    report_footprint(ours_fp, official_fp)
    print("\n== docs/CONTRACT.md §7 defects observed (3 invocations, then 1 without a key) ==")
    labels = [label for label in defects["ours"] if label != "details"]
    print(grid(["", *TRACED], [[label] + [defects[c][label] for c in TRACED] for label in labels]))
    for contender in TRACED:
        print(f"  {contender}: {defects[contender]['details']}")


if __name__ == "__main__":
    main()
