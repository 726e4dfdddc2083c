"""Every Python snippet in README.md runs as printed (issue 19, "docs that run").

Each snippet runs unchanged in a fresh interpreter, reporting to a real acceptor; a few lines
after it call what it defined the way its platform would, and the test checks the spans that
arrived. A snippet nobody registered a check for fails the test, so a new one cannot go
untested.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY, span_name

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def snippets() -> List[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


# What runs after a snippet, keyed by a line it contains, and what must then have arrived.
LAMBDA = """
from tests.lambda_fixtures import load_event, make_context
handler(load_event("api_gateway_rest"), make_context())
"""
CLOUD_RUN = """
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request
from instana_serverless.gcp import runtime
from instana_serverless.gcp.runtime import CloudRunInstance
runtime._reset_for_tests(CloudRunInstance({}))
hello(Request(EnvironBuilder(path="/hello").get_environ()))
"""
AZURE = """
from tests.test_azure_support import WorkerContext, http_request, index_app, invoke
invoke(index_app(app)["orders"], http_request(), context=WorkerContext("orders"))
"""
DRIVERS: Dict[str, str] = {
    "def handler(event, context):": LAMBDA,
    "def hello(request):": CLOUD_RUN,
    "def orders(req": AZURE,
    'instana.entry_span("nightly-import"': "",
}
EXPECTED: Dict[str, Callable[[List[Dict[str, Any]]], bool]] = {
    "def handler(event, context):": lambda spans: (
        [span_name(s) for s in spans] == ["aws.lambda.entry"]
    ),
    "def hello(request):": lambda spans: [span_name(s) for s in spans] == ["wsgi"],
    "def orders(req": lambda spans: [span_name(s) for s in spans] == ["azf"],
    'instana.entry_span("nightly-import"': lambda spans: (
        sorted(span_name(s) for s in spans) == ["nightly-import", "parse"]
        and all(s["t"] == "a3ce929d0e0e4736" for s in spans)
    ),
}


def driver_for(snippet: str) -> str:
    keys = [key for key in DRIVERS if key in snippet]
    assert len(keys) == 1, f"no check registered for this README snippet:\n{snippet}"
    return keys[0]


def test_every_snippet_has_a_check() -> None:
    found = snippets()
    assert len(found) >= 4
    assert sorted(driver_for(s) for s in found) == sorted(DRIVERS)


@pytest.mark.parametrize("index", range(len(snippets())))
def test_readme_snippet_runs(index: int, tmp_path: Path) -> None:
    snippet = snippets()[index]
    key = driver_for(snippet)
    script = tmp_path / "snippet.py"
    script.write_text(snippet + "\n" + DRIVERS[key], encoding="utf-8")
    with Acceptor(key=AGENT_KEY) as acceptor:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "AWS_"))}
        env.update(
            INSTANA_ENDPOINT_URL=acceptor.url,
            INSTANA_AGENT_KEY=AGENT_KEY,
            PYTHONPATH=str(ROOT),
            WEBSITE_SITE_NAME="orders-app",
        )
        result = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        spans = acceptor.spans()
    assert EXPECTED[key](spans), spans
