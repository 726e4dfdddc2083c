"""One deadline bounds a whole flush: the wait for another thread's flush and the name lookup
included (docs/CONTRACT.md §3: a flush adds at most INSTANA_TIMEOUT to an invocation)."""

from __future__ import annotations

import _socket
import threading
import time
from typing import Any, Iterator, List

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.transport import resolve

from .conftest import AGENT_KEY, span_name
from .raw_server import SocketServer, read_request

TIMEOUT_S = 0.3
SLACK_S = 0.08  # thread scheduling on a loaded 2-core machine, not a part of the bound


class SilentServer(SocketServer):
    """Reads each request and never answers (a hanging backend); one thread per connection."""

    def handle(self, conn: Any) -> None:
        threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: Any) -> None:
        with conn:
            while read_request(conn):
                pass


@pytest.fixture
def no_leak() -> Iterator[None]:
    yield
    instana.configure(environ={})


def configure_with_timeout(endpoint_url: str) -> Client:
    """The global client, reporting to ``endpoint_url`` with an INSTANA_TIMEOUT of TIMEOUT_S."""
    return instana.configure(
        instana.Options(
            endpoint_url=endpoint_url, agent_key=AGENT_KEY, timeout_ms=int(TIMEOUT_S * 1000)
        ),
        environ={},
    )


def test_a_flush_waiting_for_another_keeps_its_own_deadline(no_leak: None) -> None:
    server = SilentServer()
    client = configure_with_timeout(f"http://127.0.0.1:{server.port}")
    elapsed: List[float] = []

    def flush() -> None:
        started = time.monotonic()
        client.flush()
        elapsed.append(time.monotonic() - started)

    try:
        with instana.entry_span("job", flush=False):
            pass
        first = threading.Thread(target=flush)
        first.start()
        time.sleep(0.1)  # the second flush is asked for while the first holds the lock
        flush()
        first.join()
    finally:
        server.close()
    assert len(elapsed) == 2
    assert max(elapsed) <= TIMEOUT_S + SLACK_S, elapsed
    assert len(client.buffer) == 1  # nothing lost: kept for a later flush


@pytest.fixture
def slow_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[float]]:
    """The real resolver, answering one second late (as a struggling DNS server does)."""
    real = _socket.getaddrinfo
    calls: List[float] = []

    def late(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(_socket, "getaddrinfo", late)
    resolve._cache.clear()
    yield calls
    resolve._cache.clear()


def test_a_slow_name_lookup_stays_within_the_deadline(
    slow_resolver: List[float], acceptor: Acceptor, no_leak: None
) -> None:
    client = configure_with_timeout(f"http://localhost:{acceptor.port}")
    with instana.entry_span("late", flush=False):
        pass
    started = time.monotonic()
    assert client.flush() is False
    assert time.monotonic() - started <= TIMEOUT_S + SLACK_S
    assert len(client.buffer) == 1
    # The answer arrives after the deadline and is kept: the next flush needs no lookup.
    time.sleep(1.0)
    assert client.flush() is True
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["late"]
    assert len(slow_resolver) == 1


def test_ip_literals_need_no_lookup(slow_resolver: List[float]) -> None:
    deadline = time.monotonic() + 0.05
    assert resolve.resolve("127.0.0.1", 80, deadline)[0][3] == ("127.0.0.1", 80)
    assert resolve.resolve("::1", 443, deadline)[0][3][:2] == ("::1", 443)
    assert slow_resolver == []


def test_the_doctor_names_a_slow_name_lookup(slow_resolver: List[float]) -> None:
    from instana_serverless import doctor

    report = doctor.diagnose(
        {
            "INSTANA_ENDPOINT_URL": "http://localhost:9",
            "INSTANA_AGENT_KEY": AGENT_KEY,
            "INSTANA_TIMEOUT": "200",
        }
    )
    endpoint = report.section("endpoint")
    assert endpoint is not None
    failures = [f.text for f in endpoint.findings if f.level == doctor.FAIL]
    assert any("was not resolved within 200 ms" in text for text in failures), failures
