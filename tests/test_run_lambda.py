"""``instana-serverless run-lambda``: a handler on the real ``awslambdaric`` client and our
Runtime API emulator, in one command (README "Run your function locally")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY, span_name

ROOT = Path(__file__).resolve().parent.parent
APP = """
import instana_serverless as instana

@instana.lambda_handler
def handler(event, context):
    print("handling", event["name"])
    return {"statusCode": 200, "body": "hi " + event["name"]}

def plain(event, context):
    if event.get("fail"):
        raise ValueError("bad order")
    return {"ok": True}
"""


def run_lambda(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "AWS_"))}
    base["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "instana_serverless.cli", "run-lambda", *args]
    return subprocess.run(
        command, cwd=tmp_path, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def bundles(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_command_runs_the_handler_and_shows_its_trace(tmp_path: Path) -> None:
    (tmp_path / "e.json").write_text('{"name": "ada"}', encoding="utf-8")
    result = run_lambda(tmp_path, "app.handler", "--event", "e.json", "--event", "e.json")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "spans go to a local acceptor at http://127.0.0.1:" in out
    assert out.count("handling ada") == 2  # the function's own output
    assert out.count('{"response": {"statusCode": 200, "body": "hi ada"}}') == 2
    assert out.count("aws.lambda.entry  entry") == 2  # the acceptor's trace trees
    written = bundles(tmp_path / "out" / "instana-bundles.jsonl")
    spans = [span for bundle in written for span in bundle["spans"]]
    assert [span_name(s) for s in spans] == ["aws.lambda.entry"] * 2


def test_layer_mode_traces_an_undecorated_handler_and_reports_its_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "fail.json").write_text('{"fail": true}', encoding="utf-8")
    with Acceptor(key=AGENT_KEY) as acceptor:
        result = run_lambda(
            tmp_path,
            "app.plain",
            "--layer",
            "--event",
            "fail.json",
            INSTANA_ENDPOINT_URL=acceptor.url,
            INSTANA_AGENT_KEY=AGENT_KEY,
        )
        spans = acceptor.spans()
    assert result.returncode == 1, result.stdout + result.stderr
    assert '{"error": "ValueError", "message": "bad order"}' in result.stdout
    assert "local acceptor" not in result.stdout
    (entry,) = spans
    assert entry["n"] == "aws.lambda.entry" and entry["ec"] == 1
    assert entry["data"]["lambda"]["error"] == "ValueError: bad order"
    assert not (tmp_path / "out").exists()
