"""A scripted loopback HTTP service for the outbound-call tests (the demo's LoopbackServer)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Tuple

from demo.loopback import LoopbackServer, Reply, Request, json_reply


class Downstream(LoopbackServer):
    """A loopback HTTP service that records each request's headers and answers as scripted."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        # path -> list of (status, headers) answered in turn; the last one repeats
        self.script: Dict[str, List[Tuple[int, Dict[str, str]]]] = {}
        super().__init__(self._respond)

    def _respond(self, request: Request) -> Reply:
        self.requests.append(dataclasses.asdict(request))
        answers = self.script.get(request.path.split("?", 1)[0]) or [(200, {})]
        status, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        return json_reply(status, {"ok": True}, headers)
