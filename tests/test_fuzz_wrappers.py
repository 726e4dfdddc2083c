"""Fuzzing every platform wrapper with hypothesis (issue 12): events, headers, contexts and WSGI
environs as a hostile caller could send them, handlers that return or raise anything.

For every example: no exception of ours reaches the caller, the handler's return value (the very
object) or exception (the very object) passes through, every traced call's entry span reaches
the real acceptor, and every bundle is one the strict acceptor takes (valid JSON, valid wire
format: nothing answered 4xx). Seeded (``derandomize``) with bounded example counts, so the
suite is repeatable and fast.

Not fuzzed here: header values the transport sends (the ARN in ``X-Instana-Host``); contexts'
remaining time beyond what the timeout guard clamps. Both belong to other suites.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import azure.functions as func
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.azure import azure_function
from instana_serverless.client import Client, get_client
from instana_serverless.middleware import ASGIMiddleware, WSGIMiddleware
from instana_serverless.span import Span
from tests.conftest import AGENT_KEY
from tests.lambda_fixtures import EVENTS, load_event, make_context
from tests.test_azure_support import WorkerContext, index_app, invoke


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# -- what a hostile caller sends ------------------------------------------------------------

TRACE_HEADERS = [
    "X-INSTANA-T",
    "X-INSTANA-S",
    "X-INSTANA-L",
    "X-INSTANA-SYNTHETIC",
    "traceparent",
    "tracestate",
    "X-Cloud-Trace-Context",
]
CAPTURED = ["Cookie", "Set-Cookie", "Authorization", "X-Api-Key", "User-Agent"]
HEADER_NAMES = [*TRACE_HEADERS, *CAPTURED, "Host", "Content-Type"]
TRACE_VALUES = [
    "1234567890abcdef",
    "0af7651916cd43dd8448eb211c80319c",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "in=1234567890abcdef;fedcba0987654321,rojo=00f067aa0ba902b7",
    "1,correlationType=web;correlationId=abc",
    "0",
    "105445aa7843bc8bf206b12000100000/1;o=1",
]


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot render")


class Unrepresentable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text("Unrepresentable()")  # for hypothesis's report of a failing example


class Halt(BaseException):
    """Not an ``Exception``: wrappers must still let it through untouched."""


text = st.text(max_size=24)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
    | st.just(math.nan)
)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
# Values no JSON document holds, for the places a caller's own objects can reach.
anything = json_like | st.binary(max_size=8) | st.builds(Unrepresentable) | st.builds(object)
header_values = st.sampled_from(TRACE_VALUES) | text | st.from_regex(r"[0-9a-f]{1,40}")
str_headers = st.dictionaries(st.sampled_from(HEADER_NAMES) | text, header_values, max_size=6)
loose_headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | text, header_values | anything, max_size=6
)
user_exceptions = st.sampled_from([ValueError, KeyError, Unprintable, Halt]).flatmap(
    lambda kind: st.builds(kind, text) if kind is not Unprintable else st.builds(kind)
)


class Outcome:
    """What the user's handler does: return ``value`` or raise ``error``."""

    def __init__(self, value: Any, error: Optional[BaseException]) -> None:
        self.value = value
        self.error = error

    def __call__(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value

    def check(self, call: Callable[[], Any]) -> Any:
        """Run ``call``; what comes out must be exactly what the handler gave."""
        if self.error is None:
            result = call()
            assert result is self.value
            return result
        with pytest.raises(BaseException) as raised:
            call()
        assert raised.value is self.error, f"{raised.value!r} replaced {self.error!r}"
        return None


def outcomes(values: st.SearchStrategy[Any] = anything) -> st.SearchStrategy[Outcome]:
    returns = values.map(lambda value: Outcome(value, None))
    raises = user_exceptions.map(lambda error: Outcome(None, error))
    return returns | raises


# -- the backend every example reports to ----------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Iterator[Acceptor]:
    with Acceptor(key=AGENT_KEY) as acceptor:
        yield acceptor


STARTED: List[Span] = []


@pytest.fixture
def reporting(backend: Acceptor, monkeypatch: pytest.MonkeyPatch) -> Iterator[Acceptor]:
    """The client reporting to ``backend``; every entry span it starts is noted in ``STARTED``."""
    start_entry = Client.start_entry

    def noting_start_entry(self: Client, *args: Any, **kwargs: Any) -> Span:
        span = start_entry(self, *args, **kwargs)
        STARTED.append(span)
        return span

    monkeypatch.setattr(Client, "start_entry", noting_start_entry)
    instana.configure(
        instana.Options(
            endpoint_url=backend.url,
            agent_key=AGENT_KEY,
            timeout_ms=1000,
            extra_http_headers=CAPTURED,
        ),
        environ={},
    )
    yield backend
    instana.configure(environ={})


class Delivery:
    """Checks what reached the acceptor during one example."""

    def __init__(self, acceptor: Acceptor) -> None:
        self.acceptor = acceptor
        self.requests = len(acceptor.requests)
        self.spans = len(acceptor.spans())
        STARTED.clear()

    def check(self, entry_name: str, may_run_untraced: bool = False) -> None:
        new_requests = self.acceptor.requests[self.requests :]
        refused = [r["status"] for r in new_requests if r["status"] != 204]
        assert not refused, f"the acceptor refused bundles: {refused}"
        delivered = self.acceptor.spans()[self.spans :]
        # Exactly one entry per call, delivered unless the caller suppressed tracing
        # (X-INSTANA-L: 0): then nothing is recorded at all.
        if may_run_untraced and not STARTED:
            assert delivered == []
            return
        assert len(STARTED) == 1, STARTED
        (entry,) = STARTED
        if entry.recording:
            assert entry.name == entry_name
            assert entry.span_id in {s["s"] for s in delivered if s["k"] == 1}, delivered
        else:
            assert delivered == []
        assert len(get_client().buffer) == 0, "nothing left behind for later"
        for bundle in self.acceptor.bundles[-len(new_requests) or len(self.acceptor.bundles) :]:
            json.dumps(bundle, allow_nan=False)  # what was recorded is strict JSON again


# -- AWS Lambda: every trigger shape, arbitrary events and contexts --------------------------

FIXTURES = sorted(path.stem for path in EVENTS.glob("*.json"))


def mutated(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """A real event with some of its values (headers above all) replaced by hostile ones."""
    if isinstance(value, dict) and depth < 5:
        copy: Dict[Any, Any] = {}
        for key, item in value.items():
            choice = data.draw(st.integers(0, 9))
            if key in ("headers", "multiValueHeaders", "messageAttributes") and choice < 5:
                copy[key] = data.draw(loose_headers)
            elif choice == 0:
                copy[key] = data.draw(json_like)
            elif choice == 1:
                continue
            else:
                copy[key] = mutated(item, data, depth + 1)
        return copy
    if isinstance(value, list) and depth < 5:
        return [mutated(item, data, depth + 1) for item in value]
    return value


arns = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60)


class StrangeContext:
    """A context object a test harness or another runtime might pass."""

    def __init__(self, arn: Any, request_id: Any, remaining: Any, custom: Any) -> None:
        self.invoked_function_arn = arn
        self.aws_request_id = request_id
        self.function_version = request_id
        self.client_context = {"custom": custom}
        self._remaining = remaining

    def get_remaining_time_in_millis(self) -> Any:
        if isinstance(self._remaining, BaseException):
            raise self._remaining
        return self._remaining


@st.composite
def lambda_contexts(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["real", "none", "strange"]))
    if kind == "none":
        return None
    custom = draw(st.none() | str_headers | json_like)
    if kind == "real":
        client_context = {"custom": custom} if custom is not None else None
        return make_context(
            arn=draw(arns),
            client_context=client_context,
            request_id=draw(text),
            timeout_ms=draw(st.integers(0, 60_000)),
        )
    return StrangeContext(
        draw(anything),
        draw(anything),
        draw(st.integers(-(10**6), 10**7) | anything | st.builds(ValueError)),
        custom,
    )


def http_results() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"statusCode": st.integers(100, 599) | anything, "body": text},
        optional={"headers": loose_headers, "multiValueHeaders": anything},
    )


@fuzz(200)
@given(data=st.data())
def test_lambda_handler_with_every_trigger_shape(reporting: Acceptor, data: st.DataObject) -> None:
    event = mutated(load_event(data.draw(st.sampled_from(FIXTURES))), data)
    context = data.draw(lambda_contexts())
    outcome = data.draw(outcomes(http_results() | anything))
    delivery = Delivery(reporting)
    handler = instana.lambda_handler(lambda event, context: outcome())
    outcome.check(lambda: handler(event, context))
    delivery.check("aws.lambda.entry")


@fuzz(100)
@given(event=anything, context=lambda_contexts(), outcome=outcomes())
def test_lambda_handler_with_arbitrary_events(
    reporting: Acceptor, event: Any, context: Any, outcome: Outcome
) -> None:
    delivery = Delivery(reporting)
    handler = instana.lambda_handler(lambda event, context: outcome())
    outcome.check(lambda: handler(event, context))
    delivery.check("aws.lambda.entry")


@fuzz(40)
@given(event=json_like, context=lambda_contexts(), outcome=outcomes(json_like))
def test_async_lambda_handler(
    reporting: Acceptor, event: Any, context: Any, outcome: Outcome
) -> None:
    delivery = Delivery(reporting)

    async def handler(event: Any, context: Any) -> Any:
        await asyncio.sleep(0)
        return outcome()

    wrapped = instana.lambda_handler(handler)
    outcome.check(lambda: wrapped(event, context))
    delivery.check("aws.lambda.entry")


# -- Azure Functions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azure_functions() -> Dict[str, Any]:
    """Real FunctionApp functions, indexed the way the worker does, running ``CURRENT``."""
    app = func.FunctionApp()

    @app.route(route="sync")
    @azure_function
    def sync_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return CURRENT[0]()  # type: ignore[no-any-return]

    @app.route(route="async")
    @azure_function
    async def async_http(req: func.HttpRequest) -> func.HttpResponse:
        return CURRENT[0]()  # type: ignore[no-any-return]

    @app.queue_trigger(arg_name="msg", queue_name="q", connection="C")
    @azure_function
    def on_queue(msg: func.QueueMessage) -> None:
        return CURRENT[0]()  # type: ignore[no-any-return]

    return index_app(app)


CURRENT: List[Outcome] = []


@st.composite
def azure_requests(draw: st.DrawFn) -> func.HttpRequest:
    return func.HttpRequest(
        draw(st.sampled_from(["GET", "POST"]) | text),
        "https://app.azurewebsites.net/api/" + draw(text),
        headers=draw(str_headers),
        params=draw(st.dictionaries(text, text, max_size=4)),
        route_params=draw(st.dictionaries(text, text, max_size=2)),
        body=draw(st.binary(max_size=16)),
    )


@st.composite
def azure_responses(draw: st.DrawFn) -> Any:
    return func.HttpResponse(
        draw(text),
        status_code=draw(st.integers(100, 599)),
        headers=draw(st.dictionaries(text, text, max_size=3)),
    )


@fuzz(120)
@given(
    name=st.sampled_from(["sync_http", "async_http", "on_queue"]),
    request=azure_requests(),
    body=text,
    trace_parent=header_values,
    trace_state=header_values,
    invocation_id=text,
    data=st.data(),
)
def test_azure_function(
    reporting: Acceptor,
    monkeypatch: pytest.MonkeyPatch,
    azure_functions: Dict[str, Any],
    name: str,
    request: func.HttpRequest,
    body: str,
    trace_parent: str,
    trace_state: str,
    invocation_id: str,
    data: st.DataObject,
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "fuzz-app")
    outcome = data.draw(outcomes(azure_responses() | anything))
    if name == "on_queue":
        trigger: Any = func.QueueMessage(id=invocation_id, body=body.encode())
    else:
        trigger = request
    context = WorkerContext(name, invocation_id, trace_parent, trace_state)
    delivery = Delivery(reporting)
    CURRENT[:] = [outcome]
    outcome.check(lambda: invoke(azure_functions[name], trigger, context=context))
    delivery.check("azf")


# -- WSGI environs: the WSGI middleware and @cloud_run -------------------------------------


# WSGI environ strings are "bytes as latin-1" (PEP 3333).
latin1 = st.text(st.characters(max_codepoint=0xFF), max_size=24)


@st.composite
def environs(draw: st.DrawFn, broken: bool = True) -> Dict[str, Any]:
    environ: Dict[str, Any] = EnvironBuilder(path="/").get_environ()
    for key in ("REQUEST_METHOD", "PATH_INFO", "SCRIPT_NAME", "QUERY_STRING", "SERVER_NAME"):
        if draw(st.booleans()):
            environ[key] = draw(latin1)
    headers = st.dictionaries(
        st.sampled_from(HEADER_NAMES) | latin1, st.sampled_from(TRACE_VALUES) | latin1, max_size=6
    )
    for name, value in draw(headers).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if broken and draw(st.integers(0, 4)) == 0:  # a broken server: values that are not strings
        for key in draw(st.lists(st.sampled_from(sorted(environ)), max_size=3)):
            if key != "REQUEST_METHOD":
                environ[key] = draw(anything)
    return environ


WSGI_TEXT_KEYS = ("REQUEST_METHOD", "PATH_INFO", "SCRIPT_NAME", "QUERY_STRING", "SERVER_NAME")


def start_response(status: str, headers: List[Tuple[str, str]], *exc_info: Any) -> Any:
    return lambda data: None


@fuzz(150)
@given(
    environ=environs(),
    outcome=outcomes(st.lists(st.binary(max_size=8), max_size=3)),
    lazy=st.booleans(),
    status=st.integers(100, 599) | text,
)
def test_wsgi_middleware(
    reporting: Acceptor, environ: Dict[str, Any], outcome: Outcome, lazy: bool, status: Any
) -> None:
    delivery = Delivery(reporting)

    def app(environ: Any, start: Any) -> Any:
        start(f"{status} Whatever", [("Content-Type", "text/plain")])
        if lazy:
            return iter_body()
        return outcome()

    def iter_body() -> Iterator[bytes]:
        yield b"first"
        yield from outcome()

    middleware = WSGIMiddleware(app, flush=True)
    if not lazy:
        outcome.check(lambda: middleware(environ, start_response))
    else:
        body = middleware(environ, start_response)
        if outcome.error is None:
            assert list(body) == [b"first", *outcome.value]
        else:
            with pytest.raises(BaseException) as raised:
                list(body)
            assert raised.value is outcome.error
        body.close()  # type: ignore[attr-defined]
    # A server that breaks PEP 3333 (a PATH_INFO that is not a string) gets its request
    # served untraced: a documented fallback, never an error.
    pep3333 = all(isinstance(environ.get(key, ""), str) for key in WSGI_TEXT_KEYS)
    delivery.check("wsgi", may_run_untraced=not pep3333)


@fuzz(100)
@given(
    environ=environs(broken=False),
    outcome=outcomes(anything | st.tuples(text, st.integers(100, 599))),
)
def test_cloud_run_http(reporting: Acceptor, environ: Dict[str, Any], outcome: Outcome) -> None:
    from instana_serverless.gcp import cloud_run, runtime
    from instana_serverless.gcp.runtime import CloudRunInstance

    delivery = Delivery(reporting)
    runtime._reset_for_tests(CloudRunInstance({}))
    try:
        hello = cloud_run(lambda request: outcome())
        outcome.check(lambda: hello(Request(environ)))
    finally:
        runtime._reset_for_tests(None)
    delivery.check("wsgi")


@fuzz(60)
@given(
    attributes=st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                [
                    "google.cloud.pubsub.topic.v1.messagePublished",
                    "google.cloud.storage.object.v1.finalized",
                ]
            )
            | text.filter(bool),
            "source": text.filter(bool),
        },
        optional={"subject": text, "id": text, "traceparent": header_values},
    ),
    payload=json_like,
    outcome=outcomes(),
)
def test_cloud_run_cloud_event(
    reporting: Acceptor, attributes: Dict[str, Any], payload: Any, outcome: Outcome
) -> None:
    from cloudevents.http import CloudEvent

    from instana_serverless.gcp import cloud_run, runtime
    from instana_serverless.gcp.runtime import CloudRunInstance

    event = CloudEvent(attributes, payload)
    delivery = Delivery(reporting)
    runtime._reset_for_tests(CloudRunInstance({}))
    try:
        on_event = cloud_run(lambda cloud_event: outcome())
        outcome.check(lambda: on_event(event))
    finally:
        runtime._reset_for_tests(None)
    assert STARTED, "a cloud event always gets an entry span"
    delivery.check(STARTED[0].name)


# -- ASGI scopes -------------------------------------------------------------------------------

raw = st.binary(max_size=24)


@st.composite
def scopes(draw: st.DrawFn) -> Dict[str, Any]:
    headers = [
        (name.encode("latin-1", "replace"), value.encode("utf-8"))
        for name, value in draw(str_headers).items()
    ]
    headers += draw(st.lists(st.tuples(raw, raw), max_size=3))
    return {
        "type": "http",
        "method": draw(st.sampled_from(["GET", "POST"]) | text),
        "path": draw(text),
        "root_path": draw(st.just("") | text),
        "query_string": draw(raw),
        "headers": headers,
        "server": draw(st.none() | st.tuples(text, st.integers(0, 65535))),
    }


@fuzz(100)
@given(
    scope=scopes(),
    outcome=outcomes(st.none()),
    status=st.integers(100, 599),
    response_headers=st.lists(st.tuples(raw, raw), max_size=3),
)
def test_asgi_middleware(
    reporting: Acceptor,
    scope: Dict[str, Any],
    outcome: Outcome,
    status: int,
    response_headers: List[Tuple[bytes, bytes]],
) -> None:
    delivery = Delivery(reporting)
    sent: List[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": b"ok"})
        return outcome()  # type: ignore[no-any-return]

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    middleware = ASGIMiddleware(app, flush=True)
    outcome.check(lambda: asyncio.run(middleware(scope, receive, send)))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == status and sent[1]["body"] == b"ok"
    delivery.check("asgi")
