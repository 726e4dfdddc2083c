"""A stand-in for a distant Instana backend: answers every bundle after a delay (as an
endpoint in another region would), or 503 while it is "down". It keeps the spans it accepted,
so tests and benchmarks can count what arrived and when. The acceptor
(``instana_serverless.acceptor``) is the faithful one; this one is about timing and faults."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, List, Optional

from demo.loopback import LoopbackServer, Reply, Request


class SlowBackend(LoopbackServer):
    def __init__(self, delay_s: float = 0.0, key: Optional[str] = None) -> None:
        self.delay_s = delay_s
        self.key = key
        self.down = False
        self.refused = 0
        self.posts = 0
        self._spans: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        super().__init__(self._respond)

    def spans(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self._spans)

    def span_count(self) -> int:
        return len(self._spans)

    def _respond(self, request: Request) -> Reply:
        if request.method != "POST" or not request.path.endswith("/bundle"):
            return 404, b"", {}
        if self.key is not None and request.headers.get("x-instana-key") != self.key:
            return 401, b"", {}
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.posts += 1
            if self.down:
                self.refused += 1
                return 503, b"", {}
            self._spans.extend(json.loads(request.body).get("spans") or [])
        return 204, b"", {}
