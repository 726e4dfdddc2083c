"""Extension mode on the real runtime client under the freezing Runtime API emulator: the
caller gets the response before the backend has the span, every span still leaves before the
sandbox freezes, nothing is lost or duplicated through an outage, and every way of not getting
an extension falls back to flushing before the handler returns."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import instana_serverless as instana
from demo.backend import SlowBackend
from demo.lambda_runtime import Invocation, RuntimeAPI, start_runtime
from instana_serverless.aws_lambda import decorator
from instana_serverless.aws_lambda import extension as lambda_extension
from tests.conftest import AGENT_KEY

LAYER_HANDLER = "instana_serverless.lambda_layer.handler"

APP = """
def handle(event, context):
    return {"n": event["n"]}
"""


def _runtime(api: RuntimeAPI, code: Path, backend_url: str, **env: str) -> Any:
    return start_runtime(
        api,
        LAYER_HANDLER,
        code_dir=code,
        env={
            "LAMBDA_HANDLER": "app.handle",
            "INSTANA_ENDPOINT_URL": backend_url,
            "INSTANA_AGENT_KEY": AGENT_KEY,
            "INSTANA_DEBUG": "true",
            **env,
        },
    )


def _stop(proc: Any) -> str:
    proc.terminate()
    return str(proc.communicate(timeout=10)[0])


@pytest.fixture
def code(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def _settled(api: RuntimeAPI, n: int, **kwargs: Any) -> Invocation:
    invocation = api.invoke({"n": n}, **kwargs)
    assert invocation.outcome == "response" and invocation.body == {"n": n}
    assert invocation.frozen.wait(10), "the sandbox was never frozen"
    return invocation


def test_the_caller_does_not_wait_for_a_slow_backend(code: Path) -> None:
    with (
        SlowBackend(delay_s=0.1, key=AGENT_KEY) as backend,
        RuntimeAPI(observe=backend.span_count) as api,
    ):
        proc = _runtime(api, code, backend.url)
        try:
            invocations = [_settled(api, n) for n in range(4)]
        finally:
            output = _stop(proc)
    assert [(e.name, e.events) for e in api.extensions] == [("instana-serverless", ["INVOKE"])]
    assert "extension mode: registered with the Extensions API" in output
    answers = [e for e in api.log if e["kind"] == "response"]
    freezes = [e for e in api.log if e["kind"] == "freeze"]
    # When the caller had its n-th response the backend (100 ms away) had not yet got the n-th
    # span; when the sandbox froze afterwards, it had.
    assert [e["observed"] for e in answers] == [0, 1, 2, 3], output
    assert [e["observed"] for e in freezes] == [1, 2, 3, 4], output
    for invocation in invocations:
        assert invocation.answered_at < invocation.frozen_at
    assert [s["data"]["lambda"]["reqId"] for s in backend.spans()] == [
        i.request_id for i in invocations
    ]


def test_every_span_arrives_exactly_once_through_an_outage(code: Path) -> None:
    """1000 invocations, each followed by a freeze; the backend answers 503 for 200 of them in
    the middle. Those spans wait in the buffer (bounded at 1000) and all leave with the first
    flush after it recovers; none twice."""
    total, down_from, down_to = 1000, 400, 600
    with (
        SlowBackend(key=AGENT_KEY) as backend,
        RuntimeAPI(observe=backend.span_count) as api,
    ):
        proc = _runtime(api, code, backend.url, INSTANA_DEBUG="false")
        ids: List[str] = []
        counts: Dict[int, int] = {}
        try:
            for n in range(total):
                backend.down = down_from <= n < down_to
                ids.append(_settled(api, n).request_id)
                counts[n] = backend.span_count()
        finally:
            output = _stop(proc)
    assert api.freezes_done == total, output
    assert api.extensions and api.extensions[0].next_calls == total + 1
    # Nothing arrived while the backend was down, everything with the first flush after it.
    assert counts[down_from - 1] == down_from
    assert counts[down_to - 1] == down_from
    assert counts[down_to] == down_to + 1
    assert backend.refused == down_to - down_from
    received = [s["data"]["lambda"]["reqId"] for s in backend.spans()]
    assert len(received) == total
    assert sorted(received) == sorted(ids)
    assert len(set(received)) == total


def test_setting_off_flushes_before_returning(code: Path) -> None:
    with (
        SlowBackend(key=AGENT_KEY) as backend,
        RuntimeAPI(observe=backend.span_count) as api,
    ):
        proc = _runtime(api, code, backend.url, INSTANA_LAMBDA_EXTENSION="false")
        try:
            for n in range(3):
                _settled(api, n)
        finally:
            output = _stop(proc)
    assert api.extensions == []
    assert "flush-on-return mode: INSTANA_LAMBDA_EXTENSION is off" in output
    # Flushed before the handler returned: each span there before its response.
    assert [e["observed"] for e in api.log if e["kind"] == "response"] == [1, 2, 3]


def test_without_an_extensions_api_it_says_so_and_flushes_before_returning(code: Path) -> None:
    with (
        SlowBackend(key=AGENT_KEY) as backend,
        RuntimeAPI(observe=backend.span_count, extensions=False) as api,
    ):
        proc = _runtime(api, code, backend.url)
        try:
            for n in range(2):
                _settled(api, n)
        finally:
            output = _stop(proc)
    assert "flush-on-return mode: the Extensions API refused the registration" in output
    assert [e["observed"] for e in api.log if e["kind"] == "response"] == [1, 2]


# --- in process: which mode, and why -------------------------------------------------------


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    decorator._reset_for_tests()
    monkeypatch.setenv("_HANDLER", "app.handler")
    yield
    decorator._reset_for_tests()
    instana.configure(environ={})


def _configure(**env: str) -> None:
    instana.configure(
        environ={"INSTANA_ENDPOINT_URL": "http://127.0.0.1:9", "INSTANA_AGENT_KEY": "k", **env}
    )


def _handler(event: Any, context: Any) -> str:
    return "ok"


def test_not_on_lambda(lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    _configure()
    assert decorator.wrap(_handler, "app.handler")({}, None) == "ok"
    mode, why = lambda_extension.mode()
    assert mode == "flush-on-return" and "AWS_LAMBDA_RUNTIME_API is not set" in why


def test_registration_after_init_is_refused(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RuntimeAPI() as api:
        api._init_done = True  # the runtime already asked for its first invocation
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
        _configure()
        decorator.wrap(_handler, "app.handler")
    mode, why = lambda_extension.mode()
    assert mode == "flush-on-return"
    assert "refused the registration" in why and "403" in why and "Extension.InvalidState" in why


def test_only_the_functions_handler_registers(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RuntimeAPI() as api:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
        _configure()
        decorator.wrap(_handler, "app.helper")
        decorator.wrap(_handler, "other.handler")
        assert api.extensions == []
        mode, why = lambda_extension.mode()
        assert mode == "flush-on-return" and "_HANDLER" in why
        # The layer's path form (dir/module.function) names the same handler.
        monkeypatch.setenv("_HANDLER", "app/handler.handler")
        assert lambda_extension.runtime_handler_name() == "app.handler.handler"


def test_setting_and_options(lambda_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with RuntimeAPI() as api:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", api.address)
        _configure(INSTANA_LAMBDA_EXTENSION="off")
        decorator.wrap(_handler, "app.handler")
        assert lambda_extension.mode() == ("flush-on-return", "INSTANA_LAMBDA_EXTENSION is off")
        decorator._reset_for_tests()
        instana.configure(
            instana.Options(
                endpoint_url="http://127.0.0.1:9", agent_key="k", lambda_extension=False
            ),
            environ={},
        )
        decorator.wrap(_handler, "app.handler")
        assert lambda_extension.mode()[0] == "flush-on-return"
        assert api.extensions == []


def test_registration_is_quick_to_give_up_on_a_dead_api(
    lambda_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from demo.harness import free_port

    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", f"127.0.0.1:{free_port()}")
    _configure()
    assert decorator.wrap(_handler, "app.handler")({}, None) == "ok"
    assert lambda_extension.mode()[0] == "flush-on-return"
    assert os.environ["_HANDLER"] == "app.handler"


# --- the emulator behaves like Lambda -------------------------------------------------------

BACKGROUND_APP = """
import os, threading, time, urllib.request

def handle(event, context):
    if event.get("linger"):
        time.sleep(event["linger"])
        return "lingered"
    def later():
        time.sleep(0.05)
        request = urllib.request.Request(os.environ["BACKEND"] + "/bundle", data=b"{}")
        urllib.request.urlopen(request, timeout=5).read()
    threading.Thread(target=later).start()
    return "started"
"""


def test_work_nobody_waits_for_stops_while_frozen(tmp_path: Path) -> None:
    """A thread the handler left running (no extension covers it) makes no progress while the
    sandbox is frozen, and resumes with the next invocation, as on Lambda."""
    (tmp_path / "app.py").write_text(BACKGROUND_APP)
    with SlowBackend() as backend, RuntimeAPI() as api:
        proc = start_runtime(api, "app.handle", code_dir=tmp_path, env={"BACKEND": backend.url})
        try:
            first = api.invoke({})
            assert first.body == "started" and first.frozen.wait(10)
            time.sleep(0.4)  # eight times what the thread needed
            assert api.frozen and backend.posts == 0
            # The next invocation thaws the sandbox for 0.3 s: the thread goes on meanwhile.
            second = api.invoke({"linger": 0.3})
            assert second.body == "lingered"
            assert backend.posts == 1
        finally:
            _stop(proc)


def test_shutdown_reaches_extensions_registered_for_it() -> None:
    events: List[Dict[str, Any]] = []
    with RuntimeAPI() as api:
        host, port = api.address.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request(
            "POST",
            "/2020-01-01/extension/register",
            body=b'{"events":["SHUTDOWN"]}',
            headers={"Lambda-Extension-Name": "watcher"},
        )
        response = connection.getresponse()
        identifier = response.getheader("Lambda-Extension-Identifier")
        response.read()
        assert response.status == 200 and identifier

        def next_event() -> None:
            connection.request(
                "GET",
                "/2020-01-01/extension/event/next",
                headers={"Lambda-Extension-Identifier": identifier},
            )
            events.append(json.loads(connection.getresponse().read()))

        waiter = threading.Thread(target=next_event)
        waiter.start()
        deadline = time.monotonic() + 5
        while not api.extensions[0].waiting and time.monotonic() < deadline:
            time.sleep(0.005)
    waiter.join(5)
    assert [e["eventType"] for e in events] == ["SHUTDOWN"]
