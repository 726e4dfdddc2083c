"""boto3 exit spans and context in AWS messages, against moto in server mode over real HTTP."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from typing import Any, Dict, List

import boto3
import botocore.exceptions
import pytest
from awslambdaric.lambda_context import LambdaContext

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.instrumentation import aws_context, instrument, uninstrument
from instana_serverless.instrumentation import botocore as botocore_instr
from tests.conftest import AGENT_KEY, span_name
from tests.instr_support import traced

__all__ = ["traced"]  # a fixture, used by name as a test argument

REGION = "us-east-1"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:receiver"


class Aws:
    def __init__(self, url: str) -> None:
        def make(service: str) -> Any:
            return boto3.client(service, endpoint_url=url, region_name=REGION)

        self.s3 = make("s3")
        self.sqs = make("sqs")
        self.sns = make("sns")
        self.dynamodb = make("dynamodb")
        self.awslambda = make("lambda")
        self.secrets = make("secretsmanager")
        self.sts = make("sts")


@pytest.fixture(scope="module")
def aws(moto_url: str) -> Aws:
    return Aws(moto_url)


_queues = iter(range(10_000))


@pytest.fixture
def queue(aws: Aws) -> str:
    return str(aws.sqs.create_queue(QueueName=f"q-{next(_queues)}-{time.time_ns()}")["QueueUrl"])


def receive(aws: Aws, queue_url: str, count: int = 1) -> List[Dict[str, Any]]:
    messages: List[Dict[str, Any]] = []
    deadline = time.monotonic() + 5
    while len(messages) < count and time.monotonic() < deadline:
        got = aws.sqs.receive_message(
            QueueUrl=queue_url, MessageAttributeNames=["All"], MaxNumberOfMessages=10
        )
        messages.extend(got.get("Messages", []))
    return messages


def attrs(message: Dict[str, Any]) -> Dict[str, str]:
    return {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}


def string_attrs(count: int) -> Dict[str, Dict[str, str]]:
    return {f"user{i}": {"DataType": "String", "StringValue": f"v{i}"} for i in range(count)}


def exits(acceptor: Acceptor, count: int) -> List[Dict[str, Any]]:
    return [s for s in acceptor.wait_for_spans(count) if s["k"] == 2]


def test_s3_calls_get_s3_spans(traced: Client, acceptor: Acceptor, aws: Aws) -> None:
    aws.s3.create_bucket(Bucket="orders-bucket")  # outside a trace: no span
    with instana.entry_span("job") as entry:
        aws.s3.put_object(Bucket="orders-bucket", Key="2024/07/order.json", Body=b"{}")
        body = aws.s3.get_object(Bucket="orders-bucket", Key="2024/07/order.json")["Body"].read()
    assert body == b"{}"
    spans = acceptor.wait_for_spans(3)
    assert len(spans) == 3  # no urllib3 span under the boto3 ones
    s3_spans = [s for s in spans if span_name(s) == "s3"]
    assert [s["data"]["s3"] for s in s3_spans] == [
        {"op": "PutObject", "bucket": "orders-bucket", "key": "2024/07/order.json"},
        {"op": "GetObject", "bucket": "orders-bucket", "key": "2024/07/order.json"},
    ]
    assert all(s["p"] == entry.span_id and s["t"] == entry.trace_id for s in s3_spans)
    assert all(s["ec"] == 0 for s in s3_spans)


def test_managed_transfers_on_worker_threads_stay_in_the_trace(
    traced: Client, acceptor: Acceptor, aws: Aws, tmp_path: Any
) -> None:
    aws.s3.create_bucket(Bucket="transfer-bucket")
    source = tmp_path / "in.bin"
    source.write_bytes(b"payload" * 100)
    with instana.entry_span("job") as entry:
        aws.s3.upload_file(str(source), "transfer-bucket", "blob")
        aws.s3.download_file("transfer-bucket", "blob", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == source.read_bytes()
    spans = exits(acceptor, 4)
    assert [s["data"]["s3"]["op"] for s in spans] == ["PutObject", "HeadObject", "GetObject"]
    assert all(s["p"] == entry.span_id and s["t"] == entry.trace_id for s in spans)
    assert all(s["data"]["s3"]["key"] == "blob" for s in spans)


def test_aws_error_is_recorded_and_reraised_unchanged(
    traced: Client, acceptor: Acceptor, aws: Aws
) -> None:
    with pytest.raises(aws.s3.exceptions.NoSuchBucket), instana.entry_span("job"):
        aws.s3.get_object(Bucket="no-such-bucket", Key="k")
    (span,) = exits(acceptor, 2)
    assert span_name(span) == "s3" and span["ec"] == 1
    assert "NoSuchBucket" in span["data"]["s3"]["error"]


def test_sqs_send_carries_context_next_to_the_users_attributes(
    traced: Client, acceptor: Acceptor, aws: Aws, queue: str
) -> None:
    user_attributes = {"tenant": {"DataType": "String", "StringValue": "acme"}}
    with instana.entry_span("job") as entry:
        aws.sqs.send_message(QueueUrl=queue, MessageBody="hello", MessageAttributes=user_attributes)
    assert user_attributes == {"tenant": {"DataType": "String", "StringValue": "acme"}}
    (span,) = exits(acceptor, 2)
    assert span_name(span) == "sqs"
    assert span["data"]["sqs"] == {"sort": "exit", "queue": queue, "type": "SendMessage"}
    (message,) = receive(aws, queue)
    assert message["Body"] == "hello"
    assert attrs(message) == {
        "tenant": "acme",
        "X_INSTANA_T": entry.trace_id,
        "X_INSTANA_S": span["s"],
        "X_INSTANA_L": "1",
    }


@pytest.mark.parametrize(
    ("user_count", "injected"), [(0, True), (7, True), (8, False), (10, False)]
)
def test_sqs_attribute_limit_is_respected(
    traced: Client, acceptor: Acceptor, aws: Aws, queue: str, user_count: int, injected: bool
) -> None:
    with instana.entry_span("job"):
        aws.sqs.send_message(
            QueueUrl=queue, MessageBody="x", MessageAttributes=string_attrs(user_count)
        )
    (message,) = receive(aws, queue)
    got = attrs(message)
    assert {k: v for k, v in got.items() if k.startswith("user")} == {
        f"user{i}": f"v{i}" for i in range(user_count)
    }
    assert ("X_INSTANA_T" in got) == injected
    assert len(got) == user_count + (3 if injected else 0)


def test_sqs_batch_send(traced: Client, acceptor: Acceptor, aws: Aws, queue: str) -> None:
    entries = [
        {"Id": "small", "MessageBody": "a", "MessageAttributes": string_attrs(2)},
        {"Id": "full", "MessageBody": "b", "MessageAttributes": string_attrs(9)},
        {"Id": "bare", "MessageBody": "c"},
    ]
    with instana.entry_span("job"):
        result = aws.sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    assert len(result["Successful"]) == 3
    assert "MessageAttributes" not in entries[2]  # the user's entries were not modified
    (span,) = exits(acceptor, 2)
    assert span["data"]["sqs"] == {
        "sort": "exit",
        "queue": queue,
        "type": "SendMessageBatch",
        "size": 3,
    }
    by_body = {m["Body"]: attrs(m) for m in receive(aws, queue, 3)}
    assert by_body["a"]["X_INSTANA_S"] == span["s"] and len(by_body["a"]) == 5
    assert "X_INSTANA_S" not in by_body["b"] and len(by_body["b"]) == 9
    assert by_body["c"]["X_INSTANA_T"] == span["t"] and len(by_body["c"]) == 3


def test_sns_publish_reaches_a_subscribed_queue_with_context(
    traced: Client, acceptor: Acceptor, aws: Aws, queue: str
) -> None:
    topic = aws.sns.create_topic(Name=f"orders-{time.time_ns()}")["TopicArn"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    with instana.entry_span("job") as entry:
        aws.sns.publish(
            TopicArn=topic,
            Message="order placed",
            Subject="orders",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}},
        )
    (span,) = exits(acceptor, 2)
    assert span_name(span) == "sns"
    assert span["data"]["sns"] == {"topic": topic, "subject": "orders"}
    (message,) = receive(aws, queue)
    assert attrs(message) == {
        "kind": "order",
        "X_INSTANA_T": entry.trace_id,
        "X_INSTANA_S": span["s"],
        "X_INSTANA_L": "1",
    }


def test_sns_notification_wrapped_for_sqs_continues_the_trace_in_lambda(
    traced: Client, acceptor: Acceptor, aws: Aws, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without raw delivery SNS puts its attributes in the body; the consumer still continues."""
    topic = aws.sns.create_topic(Name=f"wrapped-{time.time_ns()}")["TopicArn"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    with instana.entry_span("job"):
        aws.sns.publish(TopicArn=topic, Message="hi")
    (publish,) = exits(acceptor, 2)
    (message,) = receive(aws, queue)
    notification = json.loads(message["Body"])
    assert notification["MessageAttributes"]["X_INSTANA_S"]["Value"] == publish["s"]
    acceptor.clear()

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "1")

    @lambda_handler
    def consumer(event: Any, context: Any) -> None:
        return None

    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "body": message["Body"],
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        ]
    }
    consumer(event, LambdaContext("r", None, None, int(time.time() * 1000) + 9000, FUNCTION_ARN))
    (entry,) = acceptor.wait_for_spans(1)
    assert entry["t"] == publish["t"] and entry["p"] == publish["s"]


def test_dynamodb_spans(traced: Client, acceptor: Acceptor, aws: Aws) -> None:
    table = f"orders-{time.time_ns()}"
    aws.dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with instana.entry_span("job"):
        aws.dynamodb.put_item(TableName=table, Item={"id": {"S": "1"}})
        aws.dynamodb.batch_get_item(RequestItems={table: {"Keys": [{"id": {"S": "1"}}]}})
    spans = exits(acceptor, 3)
    assert [s["data"]["dynamodb"] for s in spans] == [
        {"op": "PutItem", "table": table, "region": REGION},
        {"op": "BatchGetItem", "table": table, "region": REGION},
    ]
    assert {span_name(s) for s in spans} == {"dynamodb"}


def test_other_services_get_a_generic_boto3_span(
    traced: Client, acceptor: Acceptor, aws: Aws, moto_url: str
) -> None:
    with instana.entry_span("job"):
        aws.sts.get_caller_identity()
        aws.secrets.create_secret(
            Name=f"db-{time.time_ns()}", SecretString="hunter2", Description="db"
        )
    identity, secret = exits(acceptor, 3)
    assert span_name(identity) == "boto3"
    assert identity["data"]["boto3"] == {
        "op": "GetCallerIdentity",
        "ep": moto_url,
        "reg": REGION,
        "http_status": 200,
    }
    payload = secret["data"]["boto3"]["payload"]
    assert payload["SecretString"] == "<redacted>" and payload["Description"] == "db"
    assert "hunter2" not in json.dumps(acceptor.bundles)


class CapturedHeaders:
    """The headers botocore actually sends, from its own ``before-send`` event."""

    def __init__(self, client: Any) -> None:
        self.sent: List[Dict[str, str]] = []
        client.meta.events.register("before-send.lambda.Invoke", self._capture)

    def _capture(self, request: Any, **kwargs: Any) -> None:
        headers = {}
        for key, value in request.headers.items():
            headers[key] = value.decode() if isinstance(value, bytes) else value
        self.sent.append(headers)


def decoded_client_context(headers: Dict[str, str]) -> Dict[str, Any]:
    result: Dict[str, Any] = json.loads(base64.b64decode(headers["X-Amz-Client-Context"]))
    return result


def test_lambda_invoke_merges_context_into_the_users_client_context(
    traced: Client, acceptor: Acceptor, aws: Aws
) -> None:
    captured = CapturedHeaders(aws.awslambda)
    users = {"custom": {"cart": "42"}, "env": {"locale": "de"}}
    users_encoded = base64.b64encode(json.dumps(users).encode()).decode()
    with instana.entry_span("job") as entry:
        result = aws.awslambda.invoke(
            FunctionName="receiver",
            InvocationType="Event",
            Payload=b'{"a": 1}',
            ClientContext=users_encoded,
        )
    assert result["StatusCode"] == 202
    (span,) = exits(acceptor, 2)
    assert span_name(span) == "aws.lambda.invoke"
    assert span["data"]["lambda"] == {"function": "receiver", "type": "Event"}
    sent = decoded_client_context(captured.sent[-1])
    assert sent["env"] == {"locale": "de"}
    assert sent["custom"]["cart"] == "42"
    assert sent["custom"]["x-instana-t"] == entry.trace_id
    assert sent["custom"]["x-instana-s"] == span["s"]
    assert sent["custom"]["x-instana-l"] == "1"
    assert sent["custom"]["traceparent"].split("-")[2] == span["s"]


def test_invoked_function_continues_the_trace(
    traced: Client, acceptor: Acceptor, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ClientContext botocore sent, read by awslambdaric's own context, into our handler."""
    captured = CapturedHeaders(aws.awslambda)
    with instana.entry_span("caller"):
        answer = aws.awslambda.invoke(FunctionName="receiver", Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == {"n": 1}
    invoke = next(s for s in acceptor.wait_for_spans(2) if span_name(s) == "aws.lambda.invoke")
    assert invoke["data"]["lambda"]["type"] == "RequestResponse"
    acceptor.clear()

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "receiver")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "3")
    context = LambdaContext(
        "req-1",
        decoded_client_context(captured.sent[-1]),
        None,
        int(time.time() * 1000) + 30_000,
        FUNCTION_ARN,
    )

    @lambda_handler
    def receiver(event: Any, context: Any) -> Any:
        return {"seen": event}

    assert receiver({"n": 1}, context) == {"seen": {"n": 1}}
    (entry,) = acceptor.wait_for_spans(1)
    assert span_name(entry) == "aws.lambda.entry"
    assert entry["t"] == invoke["t"] and entry["p"] == invoke["s"]


@pytest.mark.parametrize(
    "users",
    [
        "not base64 !!",
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(json.dumps({"custom": {"big": "x" * 2640}}).encode()).decode(),
    ],
    ids=["garbage", "not-an-object", "no-room"],
)
def test_a_client_context_we_cannot_extend_is_sent_unchanged(
    traced: Client, acceptor: Acceptor, aws: Aws, users: str
) -> None:
    captured = CapturedHeaders(aws.awslambda)
    # whatever AWS (moto) makes of the user's value is the user's business
    with instana.entry_span("job"), contextlib.suppress(botocore.exceptions.ClientError):
        aws.awslambda.invoke(FunctionName="receiver", Payload=b"{}", ClientContext=users)
    assert captured.sent[-1]["X-Amz-Client-Context"] == users


def test_client_context_stays_within_the_lambda_limit() -> None:
    from instana_serverless.span import Span, Trace

    span = Span(Trace("a" * 16), "b" * 16, None, "x", 2, None, None, ())
    for size in range(2300, 2700, 7):
        users = base64.b64encode(json.dumps({"custom": {"p": "x" * size}}).encode()).decode()
        merged = aws_context.client_context(users, span)
        if merged is not None:
            assert len(merged) <= aws_context.MAX_CLIENT_CONTEXT_BYTES
            assert json.loads(base64.b64decode(merged))["custom"]["x-instana-s"] == "b" * 16


def test_suppressed_sends_only_level_zero(
    traced: Client, acceptor: Acceptor, aws: Aws, queue: str
) -> None:
    with instana.entry_span("job", headers={"X-INSTANA-L": "0"}):
        aws.sqs.send_message(QueueUrl=queue, MessageBody="quiet", MessageAttributes=string_attrs(1))
    (message,) = receive(aws, queue)
    assert attrs(message) == {"user0": "v0", "X_INSTANA_L": "0"}
    assert traced.flush()
    assert acceptor.spans() == [] and len(traced.buffer) == 0


@pytest.mark.parametrize("name", ["boto3", "botocore", "aws"])
def test_disabled_boto3_instrumentation(
    acceptor: Acceptor, aws: Aws, queue: str, name: str
) -> None:
    def configure(*disabled: str) -> None:
        instana.configure(
            instana.Options(
                endpoint_url=acceptor.url,
                agent_key=AGENT_KEY,
                disabled_instrumentations=list(disabled),
            ),
            environ={},
        )

    import botocore.client

    configure(name)
    uninstrument()
    instrument()
    try:
        assert not getattr(botocore.client.BaseClient._make_api_call, "__instana_wrapped__", 0)
        configure()  # enabled by a later configure: patched then
        assert botocore.client.BaseClient._make_api_call.__instana_wrapped__
        configure(name)  # patched earlier: the per-call check still holds
        with instana.entry_span("job"):
            aws.sqs.send_message(QueueUrl=queue, MessageBody="x")
        assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["job"]
        (message,) = receive(aws, queue)
        assert attrs(message) == {}
    finally:
        uninstrument()
        instana.configure(environ={})


def test_a_tracer_failure_never_reaches_the_call(
    traced: Client, acceptor: Acceptor, aws: Aws, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(aws_context, "inject_message", broken)
    with instana.entry_span("job"):
        aws.sqs.send_message(QueueUrl=queue, MessageBody="one", MessageAttributes=string_attrs(1))
    monkeypatch.undo()
    monkeypatch.setattr(botocore_instr, "describe", broken)
    with instana.entry_span("job"):
        aws.sqs.send_message(QueueUrl=queue, MessageBody="two")
    bodies = {m["Body"]: attrs(m) for m in receive(aws, queue, 2)}
    assert bodies == {"one": {"user0": "v0"}, "two": {}}
    # the first send still got its span (only the injection failed), the second none, and
    # botocore's HTTP request did not turn into a generic urllib3 span instead
    assert [span_name(s) for s in exits(acceptor, 3)] == ["sqs"]


def test_invalid_parameters_fail_as_without_us(
    traced: Client, acceptor: Acceptor, aws: Aws, queue: str
) -> None:
    with pytest.raises(botocore.exceptions.ParamValidationError), instana.entry_span("job"):
        aws.sqs.send_message(QueueUrl=queue, MessageBody="x", MessageAttributes="oops")
    (span,) = exits(acceptor, 2)
    assert span["ec"] == 1 and "ParamValidationError" in span["data"]["sqs"]["error"]
