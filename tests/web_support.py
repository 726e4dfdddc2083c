"""What the framework tests share: the service of tests/webapps on a real server (gunicorn,
uvicorn, aiohttp's runner) in a subprocess, or behind a real Lambda adapter under
``awslambdaric``, and the acceptance checks of issue 17 over the spans the backend received.

Per framework: ``/users/42`` and ``/users/43`` give the same ``path_tpl``; ``/boom`` (raises)
gives ``ec`` >= 1 and the exception's message; ``/down`` (503) its message; exactly one entry
per request with every exit under it; the incoming context continued; the response unchanged
apart from ``Server-Timing`` (compared with the same request in a suppressed trace, which
records nothing).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from demo.harness import listening
from demo.loopback import JsonService
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY, free_port
from tests.webapps import BROKEN

ROOT = Path(__file__).resolve().parent.parent
TRACE = "0af7651916cd43dd"
PARENT = "b7ad6b7169203331"
CONTEXT = {"X-INSTANA-T": TRACE, "X-INSTANA-S": PARENT}
SUPPRESSED = {"X-INSTANA-L": "0"}
# the requests of one run, in order: (path, headers, expected status)
REQUESTS: Tuple[Tuple[str, Dict[str, str], int], ...] = (
    ("/users/42", CONTEXT, 200),
    ("/users/43", {}, 200),
    ("/boom", {}, 500),
    ("/down", {}, 503),
)
# headers that differ between any two responses, whoever serves them
VOLATILE = {"date", "server-timing", "x-amzn-requestid", "x-amzn-trace-id"}


@dataclass(frozen=True)
class Expect:
    """What the backend must receive for one framework."""

    template: str  # data.http.path_tpl of /users/42 and /users/43
    down_error: str  # data.http.error of /down
    boom_error: str = f"ValueError: {BROKEN}"


FLASK = Expect("/users/{int:user_id}", "503 Service Unavailable: db down")
DJANGO = Expect("users/<int:user_id>", "HTTP 503 Service Unavailable")
FASTAPI = Expect("/users/{user_id}", "db down")
AIOHTTP = Expect("/users/{user_id}", "503 Service Unavailable: db down")


@dataclass
class Response:
    status: int
    headers: Dict[str, str]
    body: bytes


@contextlib.contextmanager
def downstream() -> Iterator[JsonService]:
    with JsonService(lambda path, headers: (200, {"ok": True}, {})) as service:
        yield service


def server_env(acceptor: Acceptor, service: JsonService) -> Dict[str, str]:
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("INSTANA_", "K_", "AWS_", "ECS_", "FUNCTIONS_"))
        },
        "INSTANA_ENDPOINT_URL": acceptor.url,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        "DOWNSTREAM_URL": f"{service.url}/ping",
        "PYTHONPATH": str(ROOT),
    }


@contextlib.contextmanager
def serve(argv: Callable[[int], Sequence[str]], env: Dict[str, str], name: str) -> Iterator[int]:
    """``argv(port)`` in a subprocess until it listens on ``port``; stopped at the end."""
    port = free_port()
    with listening(argv(port), port, env, name):
        yield port


def executable(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def get(port: int, path: str, headers: Dict[str, str]) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        lowered = {k.lower(): v for k, v in response.getheaders()}
        return Response(response.status, lowered, response.read())
    finally:
        conn.close()


def run_requests(send: Callable[[str, Dict[str, str]], Response]) -> List[Response]:
    """Every request of ``REQUESTS`` and, last, /users/42 in a suppressed trace."""
    responses = [send(path, headers) for path, headers, _ in REQUESTS]
    responses.append(send("/users/42", SUPPRESSED))
    return responses


def wait_for_entries(acceptor: Acceptor, count: int, timeout: float = 15.0) -> List[Dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        spans = acceptor.spans()
        if len([s for s in spans if s["k"] == 1]) >= count or time.monotonic() > deadline:
            time.sleep(0.2)  # anything sent late would show up as an extra entry
            return acceptor.spans()
        time.sleep(0.05)


def check(
    spans: List[Dict[str, Any]],
    responses: List[Response],
    service: JsonService,
    expect: Expect,
    entry_name: str,
    *,
    error_paths: Tuple[Tuple[str, ...], ...] = (("http",),),
) -> List[Dict[str, Any]]:
    """The acceptance checks; returns the four entries in request order."""
    assert [r.status for r in responses] == [s for _, _, s in REQUESTS] + [200], responses
    entries = [s for s in spans if s["k"] == 1]
    assert [s["n"] for s in entries] == [entry_name] * 4, [(s["n"], s["data"]) for s in entries]
    by_trace = {s["t"]: s for s in entries}
    assert len(by_trace) == 4  # one entry per request, each in its own trace
    first = next(s for s in entries if s["t"] == TRACE)
    # the incoming context continued
    assert first["p"] == PARENT
    paths = {s["data"]["http"].get("url", "").rsplit("/", 1)[-1]: s for s in entries}
    second, boom, down = paths["43"], paths["boom"], paths["down"]
    assert first["data"]["http"]["path_tpl"] == expect.template
    assert second["data"]["http"]["path_tpl"] == expect.template
    for span in (first, second):
        assert span["ec"] == 0 and span["data"]["http"]["status"] == 200
    for span, status, message in ((boom, 500, expect.boom_error), (down, 503, expect.down_error)):
        assert span["ec"] >= 1, span
        assert span["data"]["http"]["status"] == status
        for error_path in error_paths:
            value: Any = span["data"]
            for key in error_path:
                value = value[key]
            assert value["error"] == message, (error_path, span["data"])
    # every other span sits in one of these traces, under a span of it
    ids = {s["s"]: s for s in spans}
    for span in spans:
        if span["k"] != 1:
            assert span["t"] in by_trace and span["p"] in ids, span
            assert ids[span["p"]]["t"] == span["t"]
    for entry in (first, second):
        (call,) = [s for s in spans if s["n"] == "http" and s["t"] == entry["t"]]
        assert call["p"] == entry["s"] and call["k"] == 2
    # the downstream service received the context of the exits (suppressed: level 0 only)
    sent = [headers for path, headers in service.requests]
    assert len(sent) == 3
    assert sent[0]["x-instana-t"] == TRACE
    assert sent[2].get("x-instana-l") == "0" and "x-instana-t" not in sent[2]
    # the response unchanged apart from Server-Timing
    traced, suppressed = responses[0], responses[-1]
    assert traced.headers["server-timing"] == f"intid;desc={TRACE}"
    assert traced.body == suppressed.body
    assert "server-timing" not in suppressed.headers
    same = {k: v for k, v in traced.headers.items() if k not in VOLATILE}
    assert same == {k: v for k, v in suppressed.headers.items() if k not in VOLATILE}
    return [first, second, boom, down]


def check_server(
    acceptor: Acceptor,
    argv: Callable[[int], Sequence[str]],
    expect: Expect,
    entry_name: str,
    name: str,
    extra_env: Optional[Dict[str, str]] = None,
) -> List[Dict[str, Any]]:
    """The service on a real server: the acceptance checks over what the backend received."""
    with downstream() as service:
        env = {**server_env(acceptor, service), **(extra_env or {})}
        with serve(argv, env, name) as port:
            responses = run_requests(lambda path, headers: get(port, path, headers))
            spans = wait_for_entries(acceptor, 4)
        return check(spans, responses, service, expect, entry_name)
