"""``@lambda_handler`` in-process, with real awslambdaric context objects and the real acceptor."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, Iterator, List

import pytest

import instana_serverless as instana
from demo.lambda_runtime import ARN
from instana_serverless.aws_lambda import context as lambda_context
from instana_serverless.aws_lambda import decorator, lambda_handler, triggers
from instana_serverless.tracer import current_span
from tests.conftest import AGENT_KEY
from tests.lambda_fixtures import load_event, make_context


@pytest.fixture(autouse=True)
def fresh_sandbox() -> Iterator[None]:
    decorator._reset_for_tests()
    yield
    decorator._reset_for_tests()


def api_event() -> Dict[str, Any]:
    return load_event("api_gateway_rest")  # type: ignore[no-any-return]


def test_wraps_keeps_name_and_wrapped(client: Any) -> None:
    def my_handler(event: Any, context: Any) -> str:
        """Docs."""
        return "ok"

    wrapped = lambda_handler(my_handler)
    assert wrapped.__name__ == "my_handler"
    assert wrapped.__doc__ == "Docs."
    assert wrapped.__wrapped__ is my_handler  # type: ignore[attr-defined]


def test_span_is_flushed_before_the_handler_returns(acceptor: Any, client: Any) -> None:
    seen: List[Any] = []

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        seen.append(current_span())
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "hi"}

    result = handler(api_event(), make_context(request_id="req-1"))
    # No waiting: the bundle was accepted before the result came back.
    spans = acceptor.spans()
    assert len(spans) == 1
    span = spans[0]
    assert seen[0] is not None and seen[0].span_id == span["s"]
    assert current_span() is None
    assert span["n"] == "aws.lambda.entry" and span["k"] == 1
    assert span["f"] == {"hl": True, "cp": "aws", "e": f"{ARN}:7"}
    lam = span["data"]["lambda"]
    assert lam == {
        "arn": f"{ARN}:7",
        "runtime": "python",
        "functionName": "orders",
        "functionVersion": "7",
        "reqId": "req-1",
        "coldStart": True,
        "trigger": "aws:api.gateway",
    }
    assert result["headers"]["Server-Timing"] == f"intid;desc={span['t']}"
    assert result["headers"]["Content-Type"] == "text/plain"
    bundle_request = next(r for r in acceptor.requests if r["path"].endswith("/bundle"))
    assert bundle_request["headers"]["x-instana-host"] == f"{ARN}:7"


def test_existing_server_timing_is_kept(acceptor: Any, client: Any) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return {"statusCode": 200, "headers": {"server-timing": "db;dur=5"}}

    result = handler(api_event(), make_context())
    trace_id = acceptor.spans()[0]["t"]
    assert result["headers"] == {"server-timing": f"db;dur=5, intid;desc={trace_id}"}


def test_cold_start_only_first_and_plugin_once(acceptor: Any, client: Any) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    for _ in range(3):
        handler({}, make_context())
    spans = acceptor.spans()
    assert [s["data"]["lambda"]["coldStart"] for s in spans] == [True, False, False]
    plugin_names = [[p["name"] for p in b["metrics"]["plugins"]] for b in acceptor.bundles]
    assert plugin_names[0].count("com.instana.plugin.aws.lambda") == 1
    assert all("com.instana.plugin.aws.lambda" not in names for names in plugin_names[1:])
    assert all("com.instana.plugin.python" in names for names in plugin_names)
    lambda_plugin = next(
        p for p in acceptor.bundles[0]["metrics"]["plugins"] if p["name"].endswith("lambda")
    )
    assert lambda_plugin["entityId"] == f"{ARN}:7"
    assert lambda_plugin["data"]["functionName"] == "orders"
    python_plugin = next(
        p for p in acceptor.bundles[-1]["metrics"]["plugins"] if p["name"].endswith("python")
    )
    assert "gc" in json.dumps(python_plugin)


def test_plugin_waits_for_an_accepted_bundle(acceptor: Any, client: Any) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    acceptor.status_override = 503
    handler({}, make_context())
    assert acceptor.bundles == []
    acceptor.status_override = None
    handler({}, make_context())
    names = [p["name"] for p in acceptor.bundles[0]["metrics"]["plugins"]]
    assert "com.instana.plugin.aws.lambda" in names
    assert [s["data"]["lambda"]["coldStart"] for s in acceptor.spans()] == [True, False]


@pytest.mark.parametrize(
    ("invoked", "arn", "alias"),
    [
        (ARN, f"{ARN}:7", None),
        (f"{ARN}:7", f"{ARN}:7", None),
        (f"{ARN}:$LATEST", f"{ARN}:$LATEST", None),
        (f"{ARN}:live", f"{ARN}:7", "live"),
    ],
)
def test_qualified_arn_and_alias(
    acceptor: Any, client: Any, invoked: str, arn: str, alias: Any
) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    handler({}, make_context(arn=invoked))
    span = acceptor.spans()[0]
    assert span["data"]["lambda"]["arn"] == arn
    assert span["data"]["lambda"].get("alias") == alias
    assert span["f"]["e"] == arn
    assert acceptor.requests[-1]["headers"]["x-instana-host"] == arn


def test_qualify_unit() -> None:
    assert lambda_context.qualify(ARN, "$LATEST") == (f"{ARN}:$LATEST", None)
    assert lambda_context.qualify(f"{ARN}:prod", "12") == (f"{ARN}:12", "prod")
    assert lambda_context.qualify("garbage", "1") == ("garbage", None)


def test_exception_is_recorded_flushed_and_reraised_unchanged(acceptor: Any, client: Any) -> None:
    error = KeyError("order")

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        raise error

    with pytest.raises(KeyError) as caught:
        handler(api_event(), make_context())
    assert caught.value is error
    span = acceptor.spans()[0]
    assert span["ec"] == 1
    assert span["data"]["lambda"]["error"] == "KeyError: 'order'"
    assert "status" not in span["data"]["http"]


def test_status_500_marks_the_span(acceptor: Any, client: Any) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return {"statusCode": 503, "body": "down"}

    handler(load_event("api_gateway_http_v2"), make_context())
    span = acceptor.spans()[0]
    assert span["ec"] == 1
    assert span["data"]["http"]["status"] == 503
    assert span["data"]["lambda"]["error"] == "HTTP 503 Service Unavailable"


def test_async_handler_runs_to_completion_with_span_active(acceptor: Any, client: Any) -> None:
    seen: List[Any] = []
    loops: List[Any] = []

    async def handler(event: Any, context: Any) -> Dict[str, Any]:
        await asyncio.sleep(0)
        seen.append(current_span())
        loops.append(asyncio.get_running_loop())
        return {"statusCode": 200, "headers": {}}

    wrapped = lambda_handler(handler)
    assert wrapped.__name__ == "handler" and wrapped.__wrapped__ is handler  # type: ignore[attr-defined]
    first = wrapped(api_event(), make_context())
    second = wrapped(api_event(), make_context())
    assert first["statusCode"] == second["statusCode"] == 200
    assert "Server-Timing" in first["headers"]
    spans = acceptor.spans()
    assert len(spans) == 2
    assert [s.span_id for s in seen] == [s["s"] for s in spans]
    assert loops[0] is loops[1]  # one loop per sandbox, like module-level aiohttp sessions need


def test_async_handler_exception(acceptor: Any, client: Any) -> None:
    async def handler(event: Any, context: Any) -> None:
        raise RuntimeError("async boom")

    with pytest.raises(RuntimeError, match="async boom"):
        lambda_handler(handler)({}, make_context())
    assert acceptor.spans()[0]["data"]["lambda"]["error"] == "RuntimeError: async boom"


def test_async_handler_called_inside_a_running_loop(acceptor: Any, client: Any) -> None:
    seen: List[Any] = []

    async def handler(event: Any, context: Any) -> str:
        seen.append(current_span())
        return "done"

    wrapped = lambda_handler(handler)

    async def main() -> Any:
        return wrapped({}, make_context())

    assert asyncio.run(main()) == "done"
    assert seen[0] is not None and seen[0].span_id == acceptor.spans()[0]["s"]


def test_async_handler_untraced_still_runs(acceptor: Any) -> None:
    instana.configure(environ={})

    async def handler(event: Any, context: Any) -> int:
        return 7

    assert lambda_handler(handler)({}, make_context()) == 7


def test_missing_key_is_a_no_op(acceptor: Any, all_logs: Any) -> None:
    instana.configure(environ={"INSTANA_ENDPOINT_URL": acceptor.url})
    calls: List[Any] = []
    result = {"statusCode": 200, "headers": {}}

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        calls.append(current_span())
        return result

    assert handler(api_event(), make_context()) is result
    assert result == {"statusCode": 200, "headers": {}}  # no Server-Timing either
    assert calls == [None]
    assert acceptor.requests == []
    assert any("INSTANA_AGENT_KEY" in r.getMessage() for r in all_logs)
    instana.configure(environ={})


def test_suppressed_trace_records_nothing(acceptor: Any, client: Any) -> None:
    event = api_event()
    event["headers"] = {"X-INSTANA-L": "0"}
    event["multiValueHeaders"] = {}

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        assert current_span() is not None and not current_span().recording  # type: ignore[union-attr]
        return {"statusCode": 200, "headers": {}}

    result = handler(event, make_context())
    assert "Server-Timing" not in result["headers"]
    assert acceptor.spans() == []


def test_client_context_custom_continues_the_trace(acceptor: Any, client: Any) -> None:
    context = make_context(
        client_context={
            "custom": {"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "00000000000000ab"}
        }
    )

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    handler({"some": "payload"}, context)
    span = acceptor.spans()[0]
    assert (span["t"], span["p"]) == ("1234567890abcdef", "00000000000000ab")
    assert span["data"]["lambda"]["trigger"] == "aws:lambda.invoke"


def test_client_context_w3c_continues_the_trace(acceptor: Any, client: Any) -> None:
    context = make_context(
        client_context={
            "w3c": {"traceparent": "00-11111111111111112222222222222222-3333333333333333-01"}
        }
    )

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    handler({}, context)
    span = acceptor.spans()[0]
    assert (span["t"], span["p"]) == ("2222222222222222", "3333333333333333")


def test_tracer_bug_never_reaches_the_handler(
    acceptor: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(decorator, "detect", broken)

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "still fine"

    assert handler(api_event(), make_context()) == "still fine"


def test_broken_result_handling_never_reaches_the_handler(acceptor: Any, client: Any) -> None:
    class Weird(dict):  # type: ignore[type-arg]
        def get(self, key: Any, default: Any = None) -> Any:
            raise RuntimeError("odd mapping")

    weird = Weird(statusCode=200)

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return weird

    assert handler(api_event(), make_context()) is weird
    assert len(acceptor.spans()) == 1


def test_context_without_attributes(acceptor: Any, client: Any) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    assert handler({}, None) == "ok"
    assert handler({}, object()) == "ok"
    spans = acceptor.spans()
    assert len(spans) == 2
    assert spans[0]["data"]["lambda"]["functionVersion"] == "$LATEST"


def test_service_name_and_trigger_table_is_ordered(acceptor: Any) -> None:
    instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, service_name="orders-svc"),
        environ={},
    )

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    handler(load_event("alb"), make_context())
    span = acceptor.spans()[0]
    assert span["data"]["service"] == "orders-svc"
    assert triggers.detect(load_event("alb")) is triggers.ALB_TRIGGER
    instana.configure(environ={})


def test_reconfigured_client_gets_the_source_again(acceptor: Any, client: Any) -> None:
    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        return "ok"

    handler({}, make_context())
    instana.configure(instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY), environ={})
    handler({}, make_context())
    spans = acceptor.spans()
    assert [s["f"].get("e") for s in spans] == [f"{ARN}:7", f"{ARN}:7"]
    assert all(r["headers"]["x-instana-host"] == f"{ARN}:7" for r in acceptor.requests)
    instana.configure(environ={})
