"""google-cloud-pubsub publish exit spans against an in-process gRPC fake of the Publisher
service (no Pub/Sub server exists here), and the whole chain: a traced function publishes, the
fake keeps the message with our attributes, our Cloud Run ``gcps`` entry receives it as a push
CloudEvent in a real functions-framework app and continues the trace.
"""

from __future__ import annotations

import base64
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import functions_framework
import pytest
from awslambdaric.lambda_context import LambdaContext

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.gcp import cloud_run, runtime
from instana_serverless.gcp.runtime import CloudRunInstance
from instana_serverless.instrumentation import instrument, uninstrument
from instana_serverless.instrumentation import pubsub as pubsub_instr
from tests.instr_support import traced
from tests.scenarios.pubsub import TOPIC, close, publisher_for
from tests.servers import PubSubFake

__all__ = ["traced"]  # a fixture, used by name as a test argument


SUBSCRIPTION = "projects/demo-project/subscriptions/orders-push"
CONSUMER = """
import functions_framework
from instana_serverless.gcp import cloud_run

@cloud_run
@functions_framework.cloud_event
def on_event(cloud_event):
    return None
"""

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:publisher"


@pytest.fixture
def not_on_cloud_run() -> Iterator[None]:
    """No Cloud Run identity (no metadata server needed): each invocation is flushed as is."""
    runtime._reset_for_tests(CloudRunInstance({}))
    yield
    runtime._reset_for_tests(None)


@pytest.fixture
def consumer(
    client: Client, not_on_cloud_run: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The test client of a real functions-framework app serving a ``@cloud_run`` CloudEvent
    function, in process."""
    source = tmp_path / "pubsub_consumer.py"
    source.write_text(textwrap.dedent(CONSUMER))
    monkeypatch.setenv("FUNCTION_TARGET", "on_event")
    app = functions_framework.create_app("on_event", str(source))  # type: ignore[no-untyped-call]
    return app.test_client()


def gcps_exits(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if s["n"] == "gcps" and s["k"] == 2]


def test_publish_in_a_lambda_handler_is_a_gcps_exit_with_context_attributes(
    traced: Client, acceptor: Acceptor, pubsub_server: PubSubFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "1")
    publisher = publisher_for(pubsub_server)
    mine = {"tenant": "acme"}

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return publisher.publish(TOPIC, b"order 7", **mine).result(timeout=10)

    context = LambdaContext("r", None, None, int(time.time() * 1000) + 9000, FUNCTION_ARN)
    assert handler({}, context) == "1"
    close(publisher)
    spans = acceptor.wait_for_spans(2)
    (entry,) = [s for s in spans if s["k"] == 1]
    (exit_span,) = gcps_exits(spans)
    assert exit_span["p"] == entry["s"] and exit_span["t"] == entry["t"]
    assert exit_span["ec"] == 0
    assert exit_span["data"]["gcps"] == {
        "op": "publish",
        "projid": "demo-project",
        "top": "orders",
    }
    (message,) = pubsub_server.messages
    assert message.topic == TOPIC and message.data == b"order 7"
    assert message.attributes == {
        "tenant": "acme",
        "x-instana-t": exit_span["t"],
        "x-instana-s": exit_span["s"],
        "x-instana-l": "1",
    }
    assert mine == {"tenant": "acme"}  # the caller's attributes are not touched


def test_stale_context_attributes_are_replaced(
    traced: Client, acceptor: Acceptor, pubsub_server: PubSubFake
) -> None:
    publisher = publisher_for(pubsub_server)
    with instana.entry_span("job"):
        publisher.publish(TOPIC, b"x", **{"x-instana-t": "1111111111111111"}).result(10)
    close(publisher)
    (exit_span,) = gcps_exits(acceptor.wait_for_spans(2))
    assert pubsub_server.messages[0].attributes["x-instana-t"] == exit_span["t"]


def test_a_message_at_the_attribute_limit_goes_out_unchanged(
    traced: Client, acceptor: Acceptor, pubsub_server: PubSubFake
) -> None:
    full = {f"a{i}": "v" for i in range(pubsub_instr.MAX_ATTRIBUTES)}
    publisher = publisher_for(pubsub_server)
    with instana.entry_span("job"):
        publisher.publish(TOPIC, b"x", **full).result(10)
    close(publisher)
    assert pubsub_server.messages[0].attributes == full
    assert len(gcps_exits(acceptor.wait_for_spans(2))) == 1


def test_library_error_is_recorded_and_reraised(
    traced: Client, acceptor: Acceptor, pubsub_server: PubSubFake
) -> None:
    publisher = publisher_for(pubsub_server)
    with pytest.raises(TypeError, match="bytestring"), instana.entry_span("job"):
        publisher.publish(TOPIC, "text, not bytes")  # type: ignore[arg-type]
    close(publisher)
    (exit_span,) = gcps_exits(acceptor.wait_for_spans(2))
    assert exit_span["ec"] == 1 and "TypeError" in exit_span["data"]["gcps"]["error"]
    assert pubsub_server.messages == []


def push_event(message: Any) -> Dict[str, Any]:
    """What a Pub/Sub push subscription delivers to a Cloud Run service via Eventarc."""
    return {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/{message.topic}",
        "id": message.message_id,
        "datacontenttype": "application/json",
        "data": {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": message.attributes,
                "messageId": message.message_id,
            },
            "subscription": SUBSCRIPTION,
        },
    }


def test_publish_to_cloud_run_consumer_is_one_trace(
    acceptor: Acceptor, pubsub_server: PubSubFake, consumer: Any
) -> None:
    http = consumer  # a real functions-framework app with a @cloud_run CloudEvent function
    uninstrument()
    instrument()
    try:
        publisher = publisher_for(pubsub_server)
        with instana.entry_span("producer") as producer:
            publisher.publish(TOPIC, b"order 7").result(timeout=10)
        close(publisher)
    finally:
        uninstrument()
    (exit_span,) = gcps_exits(acceptor.wait_for_spans(2))
    assert exit_span["t"] == producer.trace_id
    (message,) = pubsub_server.messages

    response = http.post(
        "/",
        json=push_event(message),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert response.status_code == 200
    consumer = [s for s in acceptor.wait_for_spans(3) if s["n"] == "gcps" and s["k"] == 1]
    (entry,) = consumer
    assert entry["t"] == exit_span["t"]  # the same trace ...
    assert entry["p"] == exit_span["s"]  # ... continued from the publish span
    assert entry["data"]["gcps"]["op"] == "consume"
    assert entry["data"]["gcps"]["top"] == "orders"


def test_publish_to_a_background_function_is_one_trace(
    client: Client, acceptor: Acceptor, pubsub_server: PubSubFake, not_on_cloud_run: None
) -> None:
    """The same chain into a legacy ``(data, context)`` Pub/Sub function (Cloud Functions gen1
    style push message)."""
    from google.cloud.functions.context import Context  # type: ignore[import-untyped]

    uninstrument()
    instrument()
    try:
        publisher = publisher_for(pubsub_server)
        with instana.entry_span("producer"):
            publisher.publish(TOPIC, b"order 8").result(timeout=10)
        close(publisher)
    finally:
        uninstrument()
    (exit_span,) = gcps_exits(acceptor.wait_for_spans(2))
    (message,) = pubsub_server.messages

    @cloud_run
    def on_message(data: Any, context: Any) -> None:
        return None

    context = Context(
        eventId=message.message_id,
        timestamp="2024-03-20T17:24:10.381Z",
        eventType="google.pubsub.topic.publish",
        resource={"service": "pubsub.googleapis.com", "name": message.topic},
    )
    data = {"attributes": message.attributes, "data": base64.b64encode(message.data).decode()}
    on_message(data, context)
    consumer = [s for s in acceptor.wait_for_spans(3) if s["n"] == "gcps" and s["k"] == 1]
    (entry,) = consumer
    assert entry["t"] == exit_span["t"] and entry["p"] == exit_span["s"]
    assert entry["data"]["gcps"]["projid"] == "demo-project"
