"""The send rule (``sending``): when a unit of work's spans leave, for WSGI, ASGI,
``@cloud_run``, ``open_entry`` and the Cloud Run billing modes.

The end-to-end proof under the throttling emulator is ``test_cloudrun_throttling.py``; here each
caller is driven step by step to show *where* the send happens: before the response's last
byte, never after it."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import instana_serverless as instana
from instana_serverless import sending
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.gcp import runtime
from instana_serverless.instrumentation._entry import open_entry
from instana_serverless.middleware import ASGIMiddleware, WSGIMiddleware
from tests.conftest import configure_for
from tests.test_cloudrun_metadata import MetadataEmulator

CLOUD_RUN_ENV = {"K_SERVICE": "hello", "K_REVISION": "hello-00001-abc", "K_CONFIGURATION": "hello"}


class Recording(sending.SendRule):
    """Records each send with what the "server" had passed on to the client by then."""

    def __init__(self, progress: List[Any], blocking: bool = True) -> None:
        self.progress = progress
        self.blocking = blocking
        self.sends: List[Tuple[Any, ...]] = []
        self.threads: List[int] = []

    def blocks(self, client: Client) -> bool:
        return self.blocking

    def send(self, client: Client) -> None:
        self.threads.append(threading.get_ident())
        self.sends.append(tuple(self.progress))
        client.flush()


@pytest.fixture(autouse=True)
def _generic_platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("AWS_", "K_", "FUNCTIONS_", "ECS_", "INSTANA_")):
            monkeypatch.delenv(name)
    yield
    runtime._reset_for_tests()
    instana.configure(environ={})


@pytest.fixture
def progress(client: Client) -> Iterator[List[Any]]:
    yield []
    sending.set_rule(None)


def recording(progress: List[Any], blocking: bool = True) -> Recording:
    rule = Recording(progress, blocking)
    sending.set_rule(rule)
    return rule


# -- WSGI -------------------------------------------------------------------------------------


def serve_wsgi(app: Any, progress: List[Any]) -> None:
    """What a WSGI server does: call, write every chunk (recorded), close."""

    def start_response(status: str, headers: List[Tuple[str, str]], *exc: Any) -> None:
        progress.append(("headers", status))

    body = app(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}, start_response
    )
    try:
        for chunk in body:
            progress.append(chunk)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
        progress.append("closed")


def generator_app(length: Optional[int]) -> Any:
    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        headers = [("Content-Type", "text/plain")]
        if length is not None:
            headers.append(("Content-Length", str(length)))
        start_response("200 OK", headers)
        yield b"ab"
        yield b"cd"
        yield b"ef"

    return app


def test_wsgi_sends_before_the_chunk_that_completes_content_length(
    progress: List[Any], acceptor: Acceptor
) -> None:
    rule = recording(progress)
    serve_wsgi(WSGIMiddleware(generator_app(6)), progress)
    # Headers and the first two chunks were out; the last one waited for the send.
    assert rule.sends == [(("headers", "200 OK"), b"ab", b"cd")]
    assert len(acceptor.spans()) == 1


def test_wsgi_without_content_length_sends_before_the_end_of_the_body(
    progress: List[Any], acceptor: Acceptor
) -> None:
    """The server writes the chunked terminator (or closes) only after the iterator ended."""
    rule = recording(progress)
    serve_wsgi(WSGIMiddleware(generator_app(None)), progress)
    assert rule.sends == [(("headers", "200 OK"), b"ab", b"cd", b"ef")]
    assert "closed" not in rule.sends[0]


def test_wsgi_list_body_sends_before_anything_is_written(
    progress: List[Any], acceptor: Acceptor
) -> None:
    def app(environ: Any, start_response: Any) -> List[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    rule = recording(progress)
    serve_wsgi(WSGIMiddleware(app), progress)
    assert rule.sends == [(("headers", "200 OK"),)]


def test_wsgi_sends_once_when_the_body_is_longer_than_declared(
    progress: List[Any], acceptor: Acceptor
) -> None:
    rule = recording(progress)
    serve_wsgi(WSGIMiddleware(generator_app(3)), progress)
    assert rule.sends == [(("headers", "200 OK"), b"ab")]


# -- ASGI -------------------------------------------------------------------------------------


def serve_asgi(app: Any, progress: List[Any]) -> None:
    """What an ASGI server does: call the app, pass every message on (recorded)."""

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Dict[str, Any]) -> None:
        progress.append(message.get("body", message["type"]))

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))


def asgi_app(messages: List[Dict[str, Any]]) -> Any:
    async def application(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    return application


def start(length: Optional[int]) -> Dict[str, Any]:
    headers = [(b"content-type", b"text/plain")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def body(data: bytes, more: bool) -> Dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


def test_asgi_sends_before_the_message_that_completes_content_length(
    progress: List[Any], acceptor: Acceptor
) -> None:
    rule = recording(progress)
    messages = [start(4), body(b"ab", True), body(b"cd", True), body(b"", False)]
    serve_asgi(ASGIMiddleware(asgi_app(messages)), progress)
    assert rule.sends == [("http.response.start", b"ab")]
    assert threading.get_ident() not in rule.threads  # off the event loop
    assert len(acceptor.spans()) == 1


def test_asgi_without_content_length_sends_before_the_last_message(
    progress: List[Any], acceptor: Acceptor
) -> None:
    rule = recording(progress)
    messages = [start(None), body(b"ab", True), body(b"cd", False)]
    serve_asgi(ASGIMiddleware(asgi_app(messages)), progress)
    assert rule.sends == [("http.response.start", b"ab")]


def test_asgi_non_blocking_rule_runs_on_the_loop_without_waiting(
    progress: List[Any], acceptor: Acceptor
) -> None:
    rule = recording(progress, blocking=False)
    messages = [start(2), body(b"ok", False)]
    serve_asgi(ASGIMiddleware(asgi_app(messages)), progress)
    assert rule.threads == [threading.get_ident()]


# -- functions-framework, open_entry, Invocation -----------------------------------------------


def test_cloud_run_decorator_sends_before_handing_back_the_result(
    progress: List[Any], acceptor: Acceptor
) -> None:
    from instana_serverless.gcp import cloud_run

    rule = recording(progress)

    class Request:
        def __init__(self) -> None:
            self.environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}

    @cloud_run
    def hello(request: Any) -> str:
        progress.append("handled")
        return "hello"

    assert hello(Request()) == "hello"
    assert rule.sends == [("handled",)]
    assert len(acceptor.spans()) == 1


def test_an_entry_of_an_instrumentation_follows_the_rule(
    progress: List[Any], acceptor: Acceptor
) -> None:
    rule = recording(progress)
    with open_entry("rpc-server", {"x-instana-t": "1234567890abcdef"}):
        progress.append("handled")
    assert rule.sends == [("handled",)]
    with instana.entry_span("job"), open_entry("rpc-server", None):  # the outer one sends
        pass
    assert len(rule.sends) == 2
    assert len(acceptor.spans()) == 3


def test_a_failing_rule_never_reaches_the_caller(progress: List[Any]) -> None:
    class Broken(sending.SendRule):
        def send(self, client: Client) -> None:
            raise RuntimeError("our bug")

    sending.set_rule(Broken())
    with open_entry("rpc-server", None):
        pass
    served: List[Any] = []
    serve_wsgi(WSGIMiddleware(generator_app(6)), served)
    assert served[-2:] == [b"ef", "closed"]


# -- Cloud Run's rule -------------------------------------------------------------------------


def cloud_run_instance(emulator: MetadataEmulator) -> runtime.CloudRunInstance:
    env = {**CLOUD_RUN_ENV, "INSTANA_GCP_METADATA_HOST": emulator.host}
    found = runtime.CloudRunInstance(env)
    runtime._reset_for_tests(found)
    return found


def test_on_cloud_run_the_rule_is_installed_and_blocks_by_default(
    acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    client = configure_for(acceptor)
    cloud_run_instance(emulator)
    assert sending.current_rule() is sending.DEFAULT
    runtime.start()
    assert sending.current_rule() is runtime.RULE
    assert runtime.RULE.blocks(client)
    with open_entry("rpc-server", None):
        pass
    # Sent before open_entry returned, with the instance as entity.
    spans = acceptor.spans()
    assert len(spans) == 1 and spans[0]["f"]["cp"] == "gcp"


def test_off_cloud_run_the_default_rule_stays(acceptor: Acceptor) -> None:
    runtime._reset_for_tests(runtime.CloudRunInstance({}))
    runtime.start()
    assert sending.current_rule() is sending.DEFAULT


def test_instrument_installs_the_platform_rule(
    monkeypatch: pytest.MonkeyPatch, acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    """A server no wrapper covers (gRPC) on Cloud Run: ``instana.instrument()`` is enough."""
    configure_for(acceptor)
    cloud_run_instance(emulator)
    for name, value in CLOUD_RUN_ENV.items():
        monkeypatch.setenv(name, value)
    instana.instrument()
    assert sending.current_rule() is runtime.RULE


def test_cpu_always_allocated_sends_after_returning(
    acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    client = configure_for(acceptor, cloud_run_cpu_always_allocated=True)
    cloud_run_instance(emulator)
    runtime.start()
    assert not runtime.RULE.blocks(client)
    acceptor.delay_s = 0.3  # a far backend: returning must not wait for it
    started = time.monotonic()
    with open_entry("rpc-server", None):
        pass
    assert time.monotonic() - started < 0.2
    assert acceptor.spans() == []
    assert len(acceptor.wait_for_spans(1, timeout=5)) == 1


# -- the background sender --------------------------------------------------------------------


def test_background_sender_coalesces_wake_ups_and_survives_failures(client: Client) -> None:
    gate = threading.Event()
    calls: List[int] = []

    def action(woken: Client) -> None:
        calls.append(threading.get_ident())
        if len(calls) == 1:
            gate.wait(5)
        if len(calls) == 2:
            raise RuntimeError("a failed send")

    sender = sending.BackgroundSender(action, linger_s=0)
    sender.wake(client)
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(20):  # while the first send runs
        sender.wake(client)
    gate.set()
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(calls) == 2  # twenty wake-ups, one more send
    assert threading.get_ident() not in calls
    sender.wake(client)  # the thread outlived the failure
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 3


def test_background_sender_starts_a_thread_again_in_a_forked_child(client: Client) -> None:
    read, write = os.pipe()
    sender = sending.BackgroundSender(lambda woken: os.write(write, b"x"), linger_s=0)
    sender.wake(client)
    assert os.read(read, 1) == b"x"
    pid = os.fork()
    if pid == 0:  # the child: no sender thread was copied
        try:
            sender.wake(client)
            time.sleep(0.5)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"x"  # written by the child's own new thread
    os.close(read)
    os.close(write)


def test_cpu_always_allocated_sends_at_once_when_no_thread_can_start(
    monkeypatch: pytest.MonkeyPatch, acceptor: Acceptor, emulator: MetadataEmulator
) -> None:
    configure_for(acceptor, cloud_run_cpu_always_allocated=True)
    cloud_run_instance(emulator)
    runtime.start()

    def no_thread(self: Any, client: Client) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(sending.BackgroundSender, "wake", no_thread)
    with open_entry("rpc-server", None):
        pass
    assert len(acceptor.spans()) == 1  # sent before open_entry returned
