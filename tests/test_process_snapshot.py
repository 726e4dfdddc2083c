"""The ``com.instana.plugin.process`` snapshot's process fields, checked in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys, time
time.sleep(1.0)  # the process started a second before it imports us
from instana_serverless.config import Config
from instana_serverless.metrics.process import process_plugin
print(json.dumps(process_plugin(Config())["data"]))
"""


def test_args_exec_and_start_as_the_instana_sensors_send_them(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(SCRIPT)
    before_ms = int(time.time() * 1000)
    out = subprocess.run(
        [sys.executable, "-X", "utf8", str(script), "--port", "8080"],
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    data = json.loads(out)
    # Without the interpreter, with its options, the script path and the script's arguments.
    assert data["args"] == ["-X", "utf8", str(script), "--port", "8080"]
    assert data["exec"] == os.path.realpath(sys.executable)
    # Epoch milliseconds of the process start, not of our import a second later.
    assert before_ms - 1000 <= data["start"] < before_ms + 900
