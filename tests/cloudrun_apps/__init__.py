"""Small web apps the Cloud Run throttling tests and ``bench/cloudrun.py`` serve with real
servers (gunicorn, uvicorn, functions-framework) behind ``demo.cloud_run_emulator``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parent.parent.parent
_BIN = Path(sys.executable).parent
KINDS = ("flask-gunicorn", "fastapi-uvicorn", "functions-framework")


def server_argv(kind: str, port: int) -> List[str]:
    """The command that serves ``kind`` on 127.0.0.1:``port`` (run from the repository root
    with it on ``PYTHONPATH``)."""
    if kind == "flask-gunicorn":
        app = "tests.cloudrun_apps.flask_app:app"
        return [str(_BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "2", app]
    if kind == "fastapi-uvicorn":
        app = "tests.cloudrun_apps.fastapi_app:app"
        return [str(_BIN / "uvicorn"), "--port", str(port), "--no-access-log", app]
    if kind == "functions-framework":
        source = str(ROOT / "cloudrun" / "main.py")
        command = [str(_BIN / "functions-framework"), "--source", source, "--target", "hello"]
        return [*command, "--port", str(port)]
    raise ValueError(kind)
