"""requests (through urllib3) against the loopback HTTP service."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import requests

from tests.conftest import free_port
from tests.http_service import Downstream
from tests.scenarios import Scenario

CONTEXT = ("x-instana-t", "x-instana-s", "x-instana-l", "traceparent", "tracestate")


class Requests(Scenario):
    label = "requests"
    fixture = "downstream"
    imports = ("requests",)
    span_name = "urllib3"
    error_path = ("http",)
    error = requests.exceptions.ConnectionError

    def call(self, target: Downstream) -> Any:
        return requests.get(f"{target.url}/contract?page=1", timeout=5).status_code

    def failing_call(self, target: Downstream) -> Any:
        return requests.get(f"http://127.0.0.1:{free_port()}/down", timeout=5)

    def sent_context(self, target: Downstream) -> Optional[Mapping[str, str]]:
        headers = target.requests[-1]["headers"]
        return {k: v for k, v in headers.items() if k in CONTEXT}


SCENARIOS = [Requests()]
