"""Stack traces on exit spans (``INSTANA_STACK_TRACE``, ``INSTANA_STACK_TRACE_LENGTH``): the
line of the user's code behind a Redis call, against a real redis-server, first through the
real Lambda runtime client (``awslambdaric`` on our Runtime API emulator), then in-process for
the levels and the length."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List

import pytest

import instana_serverless as instana
from demo.lambda_runtime import RuntimeAPI, start_runtime
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.acceptor.validate import validate_bundle
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.instrumentation import _stack, instrument, uninstrument
from tests.conftest import AGENT_KEY, configure_for
from tests.lambda_fixtures import make_context
from tests.servers import Redis

# The calls sit on known lines: the tests find them by their text.
APP = """\
import os

import redis

cache = redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ["REDIS_PORT"]))


def handle(event, context):
    cache.set("greeting", "hello")
    if event.get("fail"):
        try:
            cache.execute_command("NO-SUCH-COMMAND")
        except redis.ResponseError:
            pass
    return {"ok": True}
"""


def line_of(text: str) -> int:
    return APP.splitlines().index(text) + 1


SET_LINE = line_of('    cache.set("greeting", "hello")')
FAIL_LINE = line_of('            cache.execute_command("NO-SUCH-COMMAND")')


def redis_exits(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if s["n"] == "redis"]


def app_frames(span: Dict[str, Any]) -> List[Dict[str, Any]]:
    return [f for f in span["stack"] if Path(f["c"]).name == "app.py"]


def test_a_redis_call_in_a_lambda_handler_names_its_line(
    tmp_path: Path, redis_server: Redis
) -> None:
    (tmp_path / "app.py").write_text(APP)
    with Acceptor(key=AGENT_KEY) as acceptor, RuntimeAPI() as api:
        proc = start_runtime(
            api,
            "instana_serverless.lambda_layer.handler",
            code_dir=tmp_path,
            env={
                "LAMBDA_HANDLER": "app.handle",
                "INSTANA_ENDPOINT_URL": acceptor.url,
                "INSTANA_AGENT_KEY": AGENT_KEY,
                "REDIS_HOST": redis_server.host,
                "REDIS_PORT": str(redis_server.port),
            },
        )
        try:
            assert api.invoke({}).outcome == "response"
            spans = acceptor.wait_for_spans(2)
        finally:
            proc.terminate()
            output = proc.communicate(timeout=10)[0]
        bundles = acceptor.bundles
    (span,) = redis_exits(spans)
    frames = app_frames(span)
    assert frames, (span.get("stack"), output)
    assert frames[0] == {"c": str(tmp_path / "app.py"), "n": SET_LINE, "m": "handle"}
    # innermost first: redis-py's own frames come before the user's line, ours never appear
    assert span["stack"][0]["c"].endswith(".py") and "redis" in span["stack"][0]["c"]
    assert not any("instana_serverless" in f["c"] for f in span["stack"])
    assert len(span["stack"]) <= 30
    assert all(validate_bundle(bundle) == [] for bundle in bundles)


@pytest.fixture
def app(tmp_path: Path, redis_server: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """app.py imported in this process, its handler wrapped by ``@lambda_handler``."""
    monkeypatch.setenv("REDIS_HOST", redis_server.host)
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    uninstrument()
    instrument()
    (tmp_path / "app.py").write_text(APP)
    spec = importlib.util.spec_from_file_location("stack_app", tmp_path / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    module.cache.close()
    uninstrument()
    instana.configure(environ={})


def run(app: ModuleType, acceptor: Acceptor, event: Dict[str, Any]) -> List[Dict[str, Any]]:
    handler = lambda_handler(app.handle)
    assert handler(event, make_context()) == {"ok": True}
    expected = 3 if event.get("fail") else 2
    return redis_exits(acceptor.wait_for_spans(expected))


def test_all_is_the_default_and_every_exit_carries_its_stack(
    app: ModuleType, acceptor: Acceptor
) -> None:
    configure_for(acceptor)
    good, bad = run(app, acceptor, {"fail": True})
    assert app_frames(good)[0]["n"] == SET_LINE
    assert app_frames(bad)[0]["n"] == FAIL_LINE and bad["ec"] == 1


def test_none_sends_no_stack(app: ModuleType, acceptor: Acceptor) -> None:
    configure_for(acceptor, stack_trace="none")
    for span in run(app, acceptor, {"fail": True}):
        assert "stack" not in span


def test_error_sends_a_stack_only_on_failed_exits(
    app: ModuleType, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the environment wins over code for this setting
    instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, stack_trace="all"),
        environ={"INSTANA_STACK_TRACE": "error"},
    )
    good, bad = run(app, acceptor, {"fail": True})
    assert "stack" not in good
    assert bad["ec"] == 1 and app_frames(bad)[0]["n"] == FAIL_LINE


@pytest.mark.parametrize("length", [1, 2, 5])
def test_the_length_is_respected_and_keeps_the_users_line(
    app: ModuleType, acceptor: Acceptor, length: int
) -> None:
    configure_for(acceptor, stack_trace_length=length)
    (span,) = run(app, acceptor, {})
    assert len(span["stack"]) == length
    # redis-py runs several frames deep below the handler: the user's line survives the cut
    assert app_frames(span)[0]["n"] == SET_LINE


def test_the_walk_keeps_the_innermost_frames_when_the_user_is_near() -> None:
    def here() -> List[Dict[str, Any]]:
        return _stack.capture(3)

    stack = here()
    assert [f["m"] for f in stack[:2]] == [
        "here",
        "test_the_walk_keeps_the_innermost_frames_when_the_user_is_near",
    ]
    assert stack[0]["c"] == __file__ and len(stack) == 3


def test_a_deep_library_gives_way_to_the_users_line() -> None:
    # a "library" 13 frames deep (compiled under a site-packages path) that takes the stack
    source = "def deep(n):\n    return capture(6) if n == 0 else deep(n - 1)\n"
    namespace: Dict[str, Any] = {"capture": _stack.capture}
    exec(compile(source, "/x/site-packages/lib/deep.py", "exec"), namespace)

    def user() -> List[Dict[str, Any]]:
        return namespace["deep"](12)  # type: ignore[no-any-return]

    stack = user()
    assert len(stack) == 6
    library = ["site-packages" in f["c"] for f in stack]
    # the deepest library frames went; (6 - 1) // 2 of them stay, nearest the user's code
    # then the user's frame and its callers (this test, then pytest's own frames)
    assert library[:4] == [True, True, False, False]
    assert stack[2]["m"] == "user" and stack[2]["c"] == __file__


def plain_walk(length: int, frame: Any) -> List[Dict[str, Any]]:
    """What ``capture`` must give, by walking every frame afresh (no cache)."""
    wires: List[Dict[str, Any]] = []
    user_at, walked = -1, 0
    while frame is not None and (user_at >= 0 or walked < _stack._MAX_WALK):
        walked += 1
        name = frame.f_code.co_filename
        if not name.startswith(_stack._OURS):
            wires.append({"c": name, "n": frame.f_lineno, "m": frame.f_code.co_name})
            library = name.startswith(_stack._LIBRARY) or "site-packages" in name
            if user_at < 0 and not library:
                user_at = len(wires) - 1
        frame = frame.f_back
    start = user_at - (length - 1) // 2 if user_at >= length else 0
    return wires[start : start + length]


@pytest.mark.parametrize("room", ["default", "tree full"])
def test_the_cached_walks_give_what_a_plain_walk_gives(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Frames of library, user and our own files, two code objects per file with the same
    # instruction offsets (the tree tells them apart by identity), in random orders and
    # depths (past the walk's bound too), each stack taken twice: new, then from the tree;
    # with a tree too small for them, the plain walks taken then and the tree started again.
    import random

    if room == "tree full":
        monkeypatch.setattr(_stack, "_NODE_LIMIT", 60)
        monkeypatch.setattr(_stack, "_REFILL_AFTER", 7)
    import sys

    source = (
        "def step(path, i, leaf):\n"
        "    return FNS[path[i]](path, i + 1, leaf) if i < len(path) else leaf()\n"
    )
    files = ["/x/site-packages/a.py", "/x/site-packages/b.py", "/app/user.py"]
    files.append(_stack._OURS + "fake.py")
    functions: List[Any] = []
    for name in files:
        for _ in range(2):
            namespace: Dict[str, Any] = {"FNS": functions}
            exec(compile(source, name, "exec"), namespace)
            functions.append(namespace["step"])
    not_user = [i for i, name in enumerate(files * 2) if "user" not in name]
    rng = random.Random(20)
    _stack.clear_caches()
    for trial in range(400):
        length = rng.choice([1, 2, 5, 30])
        pool = not_user if trial % 4 == 0 else range(len(functions))
        path = [rng.choice(pool) for _ in range(rng.choice([0, 3, 12, 40, 230]))] or [0]

        def leaf(length: int = length) -> Any:
            frame = sys._getframe(1)
            return _stack.capture(length, frame), plain_walk(length, frame)

        for _ in range(2):
            ours, expected = functions[path[0]](path, 1, leaf)
            assert ours == expected, (trial, length, path)
