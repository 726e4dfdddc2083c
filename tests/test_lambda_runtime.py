"""End to end on the real Lambda runtime client: ``python -m awslambdaric`` runs the layer's
handler against a Runtime API served on loopback, reporting to the local acceptor.

The scenario runs twice: with the Extensions API (the default, extension mode: spans are sent
after the response and before the sandbox freezes) and without it, as older emulators have it
(flush-on-return mode: spans are sent before the response)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from demo.lambda_runtime import ARN, Invocation, RuntimeAPI, start_runtime
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY
from tests.lambda_fixtures import load_event

LAYER_HANDLER = "instana_serverless.lambda_layer.handler"
QUALIFIED = f"{ARN}:7"

APP = """
import time

def handle(event, context):
    action = event.get("action")
    if action == "raise":
        raise ValueError("order 42 is broken")
    if action == "sleep":
        time.sleep(event["seconds"])
        return {"slept": event["seconds"]}
    if action == "plain":
        return {"ok": True}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
"""


class Scenario:
    def __init__(self) -> None:
        self.results: List[Invocation] = []
        self.spans: List[Dict[str, Any]] = []
        self.bundles: List[Dict[str, Any]] = []
        self.requests: List[Dict[str, Any]] = []
        self.log: List[Dict[str, Any]] = []
        self.timeout_span_seen_while_running = False
        self.output = ""
        self.mode = ""
        self.extensions: List[Tuple[str, List[str]]] = []
        self.freezes = 0


@pytest.fixture(scope="module", params=["extension", "flush-on-return"])
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    code = tmp_path_factory.mktemp("function")
    (code / "app.py").write_text(APP)
    result = Scenario()
    result.mode = request.param
    with (
        Acceptor(key=AGENT_KEY) as acceptor,
        RuntimeAPI(
            observe=lambda: len(acceptor.spans()), extensions=result.mode == "extension"
        ) as api,
    ):
        proc = start_runtime(
            api,
            LAYER_HANDLER,
            code_dir=code,
            env={
                "LAMBDA_HANDLER": "app.handle",
                "INSTANA_ENDPOINT_URL": acceptor.url,
                "INSTANA_AGENT_KEY": AGENT_KEY,
            },
        )

        def settled(invocation: Invocation) -> Invocation:
            # As a caller that waits a while between requests: the sandbox freezes in between.
            assert invocation.frozen.wait(10), "the sandbox was never frozen"
            return invocation

        try:
            result.results.append(settled(api.invoke(load_event("api_gateway_rest"))))
            result.results.append(settled(api.invoke(load_event("sqs"))))
            result.results.append(settled(api.invoke({"action": "raise"})))
            # Outlives its 700 ms deadline; the guard reports at about 500 ms.
            slow = api.submit(Invocation({"action": "sleep", "seconds": 1.0}, timeout_ms=700))
            acceptor.wait_for_spans(4, timeout=5)
            result.timeout_span_seen_while_running = not slow.done.is_set()
            assert slow.done.wait(10)
            result.results.append(settled(slow))
            result.results.append(
                settled(
                    api.invoke(
                        {"action": "plain"},
                        client_context={
                            "custom": {
                                "X-INSTANA-T": "00000000000abcde",
                                "X-INSTANA-S": "0000000000001111",
                            }
                        },
                    )
                )
            )
        finally:
            proc.terminate()
            result.output = proc.communicate(timeout=10)[0]
        result.spans = acceptor.spans()
        result.bundles = acceptor.bundles
        result.requests = acceptor.requests
        result.log = list(api.log)
        result.extensions = [(e.name, e.events) for e in api.extensions]
        result.freezes = api.freezes_done
    yield result


def test_every_invocation_is_answered(scenario: Scenario) -> None:
    outcomes = [r.outcome for r in scenario.results]
    assert outcomes == ["response", "response", "error", "response", "response"], scenario.output
    api_response = scenario.results[0].body
    assert api_response["statusCode"] == 200
    assert api_response["headers"]["Server-Timing"] == f"intid;desc={scenario.spans[0]['t']}"
    assert scenario.results[3].body == {"slept": 1.0}


def test_mode_is_the_expected_one(scenario: Scenario) -> None:
    if scenario.mode == "extension":
        assert scenario.extensions == [("instana-serverless", ["INVOKE"])]
    else:
        assert scenario.extensions == []


def test_each_span_arrives_before_the_sandbox_freezes(scenario: Scenario) -> None:
    # Frozen after each of the five invocations (the first one was queued before the init
    # ended, so nothing froze before it); at the n-th freeze the backend had exactly n spans:
    # each one sent inside its own invocation, none left for a later one.
    freezes = [e for e in scenario.log if e["kind"] == "freeze"]
    assert [e["observed"] for e in freezes] == [1, 2, 3, 4, 5], scenario.output
    ids = [r.request_id for r in scenario.results]
    assert [e["request_id"] for e in freezes] == ids
    assert len(scenario.spans) == 5


def test_when_the_span_leaves_relative_to_the_response(scenario: Scenario) -> None:
    nexts = [e for e in scenario.log if e["kind"] == "next"]
    answers = [e for e in scenario.log if e["kind"] in ("response", "error")]
    if scenario.mode == "flush-on-return":
        # Flushed before the handler returned: there before the response and the next `next`.
        assert [e["observed"] for e in nexts[:6]] == [0, 1, 2, 3, 4, 5]
        assert [e["observed"] for e in answers] == [1, 2, 3, 4, 5]
    else:
        # Sent after the response: the timed-out one (index 3) was reported by the timeout
        # guard long before its response; the extension sent the others.
        extension_nexts = [e for e in scenario.log if e["kind"] == "extension_next"]
        assert len(extension_nexts) == 6
        assert [e["observed"] for e in extension_nexts] == [0, 1, 2, 3, 4, 5]
        assert answers[3]["observed"] == 4


def test_cold_start_only_on_the_first(scenario: Scenario) -> None:
    assert [s["data"]["lambda"]["coldStart"] for s in scenario.spans] == [True] + [False] * 4


def test_span_data(scenario: Scenario) -> None:
    first, sqs, _failed, _slow, plain = scenario.spans
    for span, result in zip(scenario.spans, scenario.results):
        lam = span["data"]["lambda"]
        assert span["n"] == "aws.lambda.entry"
        assert lam["arn"] == QUALIFIED and span["f"] == {"hl": True, "cp": "aws", "e": QUALIFIED}
        assert lam["functionName"] == "orders" and lam["functionVersion"] == "7"
        assert lam["runtime"] == "python"
        assert lam["reqId"] == result.request_id
    assert first["data"]["lambda"]["trigger"] == "aws:api.gateway"
    assert first["data"]["http"]["status"] == 200
    assert (first["t"], first["p"]) == ("0000000000001234", "0000000000005678")
    assert sqs["data"]["lambda"]["trigger"] == "aws:sqs"
    assert sqs["t"] == "0000000000000a01"
    assert plain["data"]["lambda"]["trigger"] == "aws:lambda.invoke"
    assert (plain["t"], plain["p"]) == ("00000000000abcde", "0000000000001111")
    assert plain["ec"] == 0 and "msleft" not in plain["data"]["lambda"]


def test_exception_reaches_the_runtime_and_the_span(scenario: Scenario) -> None:
    error = scenario.results[2].body
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "order 42 is broken"
    span = scenario.spans[2]
    assert span["ec"] == 1
    assert span["data"]["lambda"]["error"] == "ValueError: order 42 is broken"


def test_timed_out_invocation_reports_msleft_in_time(scenario: Scenario) -> None:
    assert scenario.timeout_span_seen_while_running
    span = scenario.spans[3]
    assert span["ec"] == 1
    assert 0 < span["data"]["lambda"]["msleft"] <= 200
    assert "about to time out" in span["data"]["lambda"]["error"]
    assert span["d"] < 700


def test_host_header_and_plugins(scenario: Scenario) -> None:
    bundle_requests = [r for r in scenario.requests if r["path"].endswith("/bundle")]
    assert bundle_requests and all(r["status"] == 204 for r in bundle_requests)
    assert {r["headers"]["x-instana-host"] for r in bundle_requests} == {QUALIFIED}
    names = [[p["name"] for p in b["metrics"]["plugins"]] for b in scenario.bundles]
    assert "com.instana.plugin.aws.lambda" in names[0]
    assert sum(n.count("com.instana.plugin.aws.lambda") for n in names) == 1
    assert all("com.instana.plugin.python" in n for n in names)
    lambda_plugin = next(
        p
        for p in scenario.bundles[0]["metrics"]["plugins"]
        if p["name"] == "com.instana.plugin.aws.lambda"
    )
    assert lambda_plugin["entityId"] == QUALIFIED
    assert lambda_plugin["data"]["memorySize"] == 256
    assert lambda_plugin["data"]["region"] == "eu-central-1"


def test_wrong_lambda_handler_is_a_clear_init_error(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    with RuntimeAPI() as api:
        proc = start_runtime(
            api,
            LAYER_HANDLER,
            code_dir=tmp_path,
            env={
                "LAMBDA_HANDLER": "app.nothing_here",
                "INSTANA_ENDPOINT_URL": "http://127.0.0.1:9",
                "INSTANA_AGENT_KEY": "k",
            },
        )
        try:
            assert api.init_error_seen.wait(20), proc.communicate(timeout=5)[0]
            returncode = proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            output = proc.communicate(timeout=5)[0]
    assert returncode != 0
    error = api.init_errors[0]
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert "LAMBDA_HANDLER='app.nothing_here'" in error["errorMessage"]
    assert "module 'app' has no 'nothing_here'" in error["errorMessage"]
    assert "LAMBDA_HANDLER" in output
    assert not any(e["kind"] == "next" for e in api.log)
