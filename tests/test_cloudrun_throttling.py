"""Cloud Run with request-based billing: real servers behind ``demo.cloud_run_emulator``, which
stops the server's process group as soon as no request is in flight and resumes it with the
next request. Every request's spans must be at the backend (the acceptor) when its response
arrives, i.e. before the next request is sent; a send that starts after the response stays
frozen (the tests at the end show the emulator really freezes)."""

from __future__ import annotations

import contextlib
import http.client
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from demo.cloud_run_emulator import CloudRunEmulator, instance
from instana_serverless.acceptor.server import Acceptor
from tests.cloudrun_apps import KINDS, ROOT, server_argv
from tests.conftest import AGENT_KEY, free_port
from tests.test_cloudrun_metadata import MetadataEmulator

REQUESTS = 200


@contextlib.contextmanager
def cloud_run(
    kind: str,
    acceptor: Acceptor,
    metadata: MetadataEmulator,
    *,
    throttle: bool = True,
    env: Optional[Dict[str, str]] = None,
) -> Iterator[CloudRunEmulator]:
    """``kind`` on a free port, on "Cloud Run" (the K_* variables, the metadata server
    emulated), behind the throttling emulator."""
    port = free_port()
    environ = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("INSTANA_", "K_", "AWS_", "GCE_", "GOOGLE_", "SEND_"))
        },
        "INSTANA_ENDPOINT_URL": acceptor.url,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        # A send cut short by its timeout on a starved machine would be retried with the next
        # request; what is tested here is when sends happen, not how long they may take.
        "INSTANA_TIMEOUT": "5000",
        "INSTANA_GCP_METADATA_HOST": metadata.host,
        "K_SERVICE": "hello",
        "K_REVISION": "hello-00001-thr",
        "K_CONFIGURATION": "hello",
        "PORT": str(port),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    argv = server_argv(kind, port)
    with instance(argv, environ, port, throttle=throttle, cwd=str(ROOT)) as front:
        yield front


def get(front: CloudRunEmulator, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body)
        return body
    finally:
        conn.close()


def path_of(kind: str, number: int) -> str:
    if kind == "functions-framework":
        return f"/?name=req{number}"
    return f"/stream/{number}" if number % 10 == 9 else f"/r/{number}"


def entry_of(kind: str, number: int) -> Callable[[Dict[str, Any]], bool]:
    def matches(span: Dict[str, Any]) -> bool:
        if span.get("n") not in ("wsgi", "asgi"):
            return False
        http = span.get("data", {}).get("http", {})
        if kind == "functions-framework":
            return bool(http.get("params") == f"name=req{number}")
        return bool(http.get("url") == path_of(kind, number))

    return matches


def arrived(acceptor: Acceptor, kind: str, number: int) -> bool:
    """The request's entry span and, for the routes that make one, its child are in."""
    spans = acceptor.spans()
    entries = [s for s in spans if entry_of(kind, number)(s)]
    if len(entries) != 1:
        return False
    if kind != "functions-framework" and number % 10 == 9:  # the stream route has no child
        return True
    children = [s for s in spans if s.get("p") == entries[0]["s"] and s.get("n") == "sdk"]
    return len(children) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_every_request_is_at_the_backend_before_the_next_one(
    kind: str, acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    late: List[int] = []
    with cloud_run(kind, acceptor, emulator) as front:
        for number in range(REQUESTS):
            get(front, path_of(kind, number))
            # No waiting: the instance is frozen now; what is not here will not come by itself.
            if not arrived(acceptor, kind, number):
                late.append(number)
        freezes = front.freezes
    assert late == []
    assert freezes >= REQUESTS  # the instance was stopped after every single request


def test_the_old_timing_fails_under_the_emulator(
    acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    """The middleware's old timing (the send when the server closes the body, after the last
    byte) fails the check above: requests whose spans are not at the backend when their
    response arrives. Those that are frozen stay missing until the next request."""
    kind = "flask-gunicorn"
    rounds = 50
    late: List[int] = []
    stuck: List[int] = []
    with cloud_run(kind, acceptor, emulator, env={"SEND_AFTER_RESPONSE": "1"}) as front:
        for number in range(rounds):
            get(front, path_of(kind, number))
            if not arrived(acceptor, kind, number):
                late.append(number)
                time.sleep(0.05)  # ample for a send on loopback, were the instance running
                if not arrived(acceptor, kind, number):
                    stuck.append(number)
        # The next request resumes the instance, but only while it runs; CPU for good:
        front.resume(throttle=False)
        deadline = time.monotonic() + 10
        while not all(arrived(acceptor, kind, n) for n in range(rounds)):
            assert time.monotonic() < deadline, "the frozen sends never completed"
            time.sleep(0.05)
    # The send races the stop, which comes within microseconds of the last byte: one whose
    # bytes were written before it still arrives, a little later.
    print(f"\nsend after the response: {len(late)} of {rounds} late, {len(stuck)} frozen")
    assert late


@pytest.mark.parametrize("throttle", [True, False])
def test_the_emulator_freezes_the_instance_until_the_next_request(
    throttle: bool, acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    """A send 50 ms after the response: under throttling nothing reaches the backend until
    the instance runs again; with CPU always allocated it arrives by itself."""
    kind = "flask-gunicorn"
    rounds = 4
    env = {"SEND_AFTER_RESPONSE_MS": "50"}
    with cloud_run(kind, acceptor, emulator, throttle=throttle, env=env) as front:
        for number in range(rounds):
            get(front, path_of(kind, number))
            time.sleep(0.02)  # a send already under way at the stop lands meanwhile
            posts = len(acceptor.requests)
            time.sleep(0.5)
            if throttle:
                # (Its spans may be in already: the overdue timer of the request before
                # fires when this one resumes the instance, and may take them along.)
                assert len(acceptor.requests) == posts, "a frozen instance sent something"
            else:
                assert arrived(acceptor, kind, number)
        front.resume(throttle=False)  # the frozen sends complete
        deadline = time.monotonic() + 10
        while not all(arrived(acceptor, kind, n) for n in range(rounds)):
            assert time.monotonic() < deadline, "the frozen sends never completed"
            time.sleep(0.05)


@pytest.mark.parametrize("kind", ["flask-gunicorn", "fastapi-uvicorn"])
def test_cpu_always_allocated_sends_after_the_response(
    kind: str, acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    """With the setting (and an instance that is not throttled) the response waits for no send;
    the background sender delivers every request's spans shortly after."""
    env = {"INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED": "true"}
    count = 40
    with cloud_run(kind, acceptor, emulator, throttle=False, env=env) as front:
        for number in range(count):
            get(front, path_of(kind, number))
        deadline = time.monotonic() + 10
        while not all(arrived(acceptor, kind, n) for n in range(count)):
            assert time.monotonic() < deadline, "spans missing"
            time.sleep(0.05)


@pytest.mark.parametrize("kind", ["flask-gunicorn", "fastapi-uvicorn"])
def test_cpu_always_allocated_sends_what_is_left_when_the_instance_stops(
    kind: str, acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    """Spans the background sender could not deliver (the backend answered 503) leave when
    Cloud Run stops the instance (SIGTERM), before the process exits."""
    env = {"INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED": "true"}
    acceptor.status_override = 503
    with cloud_run(kind, acceptor, emulator, throttle=False, env=env) as front:
        get(front, path_of(kind, 1))
        deadline = time.monotonic() + 10
        while not acceptor.requests:  # the background send was refused
            assert time.monotonic() < deadline, "no send was attempted"
            time.sleep(0.02)
        time.sleep(0.2)
        assert not arrived(acceptor, kind, 1)
        acceptor.status_override = None
    # The server has exited (SIGTERM, then waited for): its exit sent the buffered spans.
    assert arrived(acceptor, kind, 1)
