"""The shared wrapper factory and patch kinds, on plain functions (no library involved): covers,
nesting, sync and async, our failures invisible, exact restore; and ``configure`` after a
decorated handler still patching exits."""

from __future__ import annotations

import asyncio
import types
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
import urllib3

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import _wrap, uninstrument
from instana_serverless.instrumentation._patches import Function, Install, Method
from instana_serverless.instrumentation.registry import Entry
from tests.conftest import AGENT_KEY, span_name
from tests.http_service import Downstream
from tests.lambda_fixtures import load_event, make_context


def entry(name: str, **fields: Any) -> Entry:
    return Entry(
        name,
        modules=(f"fake_{name}",),
        category=fields.pop("category", "databases"),
        label=name,
        distribution=name,
        versions="any",
        span=name,
        data="",
        **fields,
    )


def start_named(name: str) -> Any:
    def start(call: _wrap.Call) -> Tuple[str, Dict[str, Any], Tuple[str, ...]]:
        return name, {name: {"arg": call.args[0] if call.args else None}}, (name,)

    return start


def end_result(call: _wrap.Call, result: Any, exc: Optional[BaseException]) -> None:
    if exc is None:
        call.span.data[call.span.name]["result"] = result


def names(acceptor: Acceptor, count: int) -> List[Tuple[str, Optional[str]]]:
    """(name, parent name) of every span."""
    spans = acceptor.wait_for_spans(count)
    by_id = {s["s"]: span_name(s) for s in spans}
    return sorted((span_name(s), by_id.get(s.get("p", ""))) for s in spans)


def test_covers_nesting_and_low_level_clients(client: Client, acceptor: Acceptor) -> None:
    orm = entry("orm", covers=("driver",))
    driver = entry("driver")
    other = entry("other", category="logging")
    socket_level = entry("socket_level", category="http", inside_exits=False)

    traced_driver = _wrap.wrap(driver, lambda q: f"rows of {q}", start_named("driver"), None)
    traced_other = _wrap.wrap(other, lambda m: m, start_named("other"), None)
    traced_socket = _wrap.wrap(socket_level, lambda: "sent", start_named("socket_level"), None)

    def orm_query(q: str) -> str:
        traced_other("inside orm")  # not covered: a child of the orm exit
        traced_socket()  # never inside any exit
        return traced_driver(q)  # covered: passes through untraced

    traced_orm = _wrap.wrap(orm, orm_query, start_named("orm"), end_result)
    traced_self = _wrap.wrap(driver, lambda q: traced_driver(q), start_named("driver"), None)

    with instana.entry_span("job"):
        assert traced_orm("select 1") == "rows of select 1"
        assert traced_self("again") == "rows of again"  # re-entrant: one span
        assert traced_socket() == "sent"  # outside exits: traced
    assert names(acceptor, 5) == [
        ("driver", "job"),
        ("job", None),
        ("orm", "job"),
        ("other", "orm"),
        ("socket_level", "job"),
    ]
    orm_span = next(s for s in acceptor.spans() if span_name(s) == "orm")
    assert orm_span["data"]["orm"] == {"arg": "select 1", "result": "rows of select 1"}


def test_async_callables_keep_the_span_across_awaits(client: Client, acceptor: Acceptor) -> None:
    lib = entry("lib")

    async def fetch(key: str) -> str:
        await asyncio.sleep(0.01)
        return key.upper()

    traced = _wrap.wrap(lib, fetch, start_named("lib"), end_result)
    assert _wrap.is_coroutine_function(traced)

    async def main() -> List[str]:
        return list(await asyncio.gather(traced("a"), traced("b")))

    with instana.entry_span("job"):
        assert asyncio.run(main()) == ["A", "B"]
    spans = [s for s in acceptor.wait_for_spans(3) if span_name(s) == "lib"]
    assert sorted(s["data"]["lib"]["result"] for s in spans) == ["A", "B"]
    assert len({s["p"] for s in spans}) == 1  # both children of the entry


def test_errors_of_ours_pass_through_and_library_errors_are_reraised(
    client: Client, acceptor: Acceptor
) -> None:
    lib = entry("lib")

    class LibraryError(Exception):
        pass

    def broken_start(call: _wrap.Call) -> Any:
        raise RuntimeError("our bug")

    def fails() -> None:
        raise LibraryError("lib says no")

    with instana.entry_span("job"):
        assert _wrap.wrap(lib, lambda: 7, broken_start, None)() == 7
        with pytest.raises(LibraryError) as raised:
            _wrap.wrap(lib, fails, start_named("lib"), end_result)()
    assert str(raised.value) == "lib says no" and raised.value.__cause__ is None
    (exit_span,) = [s for s in acceptor.wait_for_spans(2) if s["k"] == 2]
    assert exit_span["ec"] == 1
    assert exit_span["data"]["lib"]["error"] == "LibraryError: lib says no"


def test_patch_kinds_restore_exactly() -> None:
    lib = entry("lib")
    module = types.ModuleType("fake_lib")

    class Base:
        def get(self) -> str:
            return "base"

    class Child(Base):
        def put(self) -> str:
            return "own"

    def helper() -> str:
        return "helper"

    listeners: List[Any] = []
    module.Child = Child  # type: ignore[attr-defined]
    module.helper = helper  # type: ignore[attr-defined]

    def install(entry: Entry, module: Any) -> Any:
        listener = object()
        listeners.append(listener)
        return listener

    applied = [
        Method("Child", "get", start_named("x")).apply(lib, module),  # inherited
        Method("Child", "put", start_named("x")).apply(lib, module),  # own
        Function("helper", start_named("x")).apply(lib, module),
        Install(install, lambda module, handle: listeners.remove(handle)).apply(lib, module),
    ]
    assert "get" in Child.__dict__ and Child.put.__instana_wrapped__  # type: ignore[attr-defined]
    assert Child().get() == "base" and Child().put() == "own" and module.helper() == "helper"
    assert len(listeners) == 1
    # applying again changes nothing: already ours
    assert Method("Child", "put", start_named("x")).apply(lib, module) is None
    for change in applied:
        assert change is not None
        change.restore()
    assert "get" not in Child.__dict__ and Child.__dict__["put"].__name__ == "put"
    assert not hasattr(Child.put, "__instana_wrapped__")
    assert module.helper is helper and listeners == []


@pytest.fixture
def untraced_sandbox() -> Iterator[None]:
    from instana_serverless.aws_lambda import decorator

    uninstrument()
    instana.configure(environ={})  # no endpoint: tracing off at wrap time
    decorator._reset_for_tests()
    yield
    decorator._reset_for_tests()
    uninstrument()
    instana.configure(environ={})


def test_configure_after_decorating_still_patches_exits(
    untraced_sandbox: None, acceptor: Acceptor, downstream: Downstream
) -> None:
    from instana_serverless.aws_lambda import lambda_handler

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        requests.get(f"{downstream.url}/from-handler")
        return {"statusCode": 200, "body": "ok"}

    assert not getattr(urllib3.connectionpool.HTTPConnectionPool.urlopen, "__instana_wrapped__", 0)
    instana.configure(instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY), environ={})
    handler(load_event("api_gateway_rest"), make_context(request_id="req-1"))
    spans = acceptor.wait_for_spans(2)
    assert sorted(span_name(s) for s in spans) == ["aws.lambda.entry", "urllib3"]
    assert downstream.requests[0]["headers"]["x-instana-t"] == spans[0]["t"]


def test_instrument_imports_nothing_heavy() -> None:
    from tests.modules import modules_loaded_by

    loaded = modules_loaded_by(
        "import instana_serverless as i\n"
        "i.configure(i.Options(endpoint_url='http://127.0.0.1:9', agent_key='k'), environ={})\n"
        "i.instrument()",
        names=("typing", "logging", "threading", "json", "inspect", "httpx", "urllib3"),
        prefixes=("botocore", "instana_serverless.instrumentation._wrap"),
    )
    assert loaded == []


def test_configure_after_uninstrument_patches_nothing(acceptor: Acceptor) -> None:
    from instana_serverless.instrumentation import instrument, patched

    instana.configure(instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY), environ={})
    instrument()
    assert "urllib3" in patched()
    uninstrument()
    try:
        instana.configure(
            instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY), environ={}
        )
        assert patched() == {}
        assert not getattr(
            urllib3.connectionpool.HTTPConnectionPool.urlopen, "__instana_wrapped__", 0
        )
    finally:
        uninstrument()
        instana.configure(environ={})
