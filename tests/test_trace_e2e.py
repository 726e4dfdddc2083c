"""One whole trace across functions: API Gateway → Lambda → (HTTP service, SQS) → Lambda → S3.

Everything real except Lambda itself: the handlers run through ``@lambda_handler`` with
awslambdaric's own ``LambdaContext``; the HTTP service is a loopback server; SQS and S3 are
moto over loopback HTTP; the second handler gets the SQS event built from the message moto
delivers (its real attributes); spans go to the local acceptor.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
import requests
from awslambdaric.lambda_context import LambdaContext

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from tests.http_service import Downstream
from tests.test_instr_botocore import REGION, Aws, aws  # noqa: F401 (fixtures)

EVENTS = Path(__file__).parent / "lambda_events"
UPSTREAM_T = "00000000000e2e01"
UPSTREAM_S = "00000000000e2e02"


def lambda_context(name: str) -> LambdaContext:
    return LambdaContext(
        str(uuid.uuid4()),
        None,
        None,
        int(time.time() * 1000) + 30_000,
        f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
    )


def api_gateway_event() -> Dict[str, Any]:
    event: Dict[str, Any] = json.loads((EVENTS / "api_gateway_rest.json").read_text())
    for key, value in (("X-INSTANA-T", UPSTREAM_T), ("X-INSTANA-S", UPSTREAM_S)):
        event["headers"][key] = value
        event["multiValueHeaders"][key] = [value]
    return event


def sqs_event(message: Dict[str, Any], queue_arn: str) -> Dict[str, Any]:
    """What the SQS event source mapping hands the function for ``message``."""
    template: Dict[str, Any] = json.loads((EVENTS / "sqs.json").read_text())["Records"][0]
    record = copy.deepcopy(template)
    record.update(
        messageId=message["MessageId"],
        receiptHandle=message["ReceiptHandle"],
        body=message["Body"],
        md5OfBody=message["MD5OfBody"],
        eventSourceARN=queue_arn,
        awsRegion=REGION,
        messageAttributes={
            name: {
                "stringValue": value["StringValue"],
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
    )
    return {"Records": [record]}


@pytest.fixture
def traced(client: Client) -> Iterator[Client]:
    instrument()
    yield client
    uninstrument()


def test_one_trace_from_api_gateway_through_sqs_to_s3(
    traced: Client,
    acceptor: Acceptor,
    aws: Aws,  # noqa: F811
    downstream: Downstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stamp = time.time_ns()
    queue_url = aws.sqs.create_queue(QueueName=f"orders-{stamp}")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    bucket = f"archive-{stamp}"
    aws.s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "1")

    @lambda_handler
    def orders_api(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
        price = requests.get(f"{downstream.url}/prices/42", headers={"X-Caller": "orders"}).json()
        aws.sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps({"order": 42, "price": price}),
            MessageAttributes={"tenant": {"DataType": "String", "StringValue": "acme"}},
        )
        return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": "{}"}

    @lambda_handler
    def archiver(event: Dict[str, Any], context: Any) -> None:
        for record in event["Records"]:
            aws.s3.put_object(Bucket=bucket, Key=record["messageId"], Body=record["body"].encode())

    response = orders_api(api_gateway_event(), lambda_context("orders-api"))
    assert response["statusCode"] == 201
    assert "intid;desc=" in response["headers"]["Server-Timing"]

    delivered = aws.sqs.receive_message(
        QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert len(delivered) == 1
    # The user's attribute arrived unchanged next to ours.
    assert delivered[0]["MessageAttributes"]["tenant"] == {
        "StringValue": "acme",
        "DataType": "String",
    }
    archiver(sqs_event(delivered[0], queue_arn), lambda_context("archiver"))
    stored = aws.s3.get_object(Bucket=bucket, Key=delivered[0]["MessageId"])["Body"].read()
    assert json.loads(stored)["order"] == 42

    spans = acceptor.wait_for_spans(5)
    assert len(spans) == 5
    entries = [s for s in spans if s["n"] == "aws.lambda.entry"]
    assert len(entries) == 2
    api_entry = next(s for s in entries if s["data"]["lambda"]["trigger"] == "aws:api.gateway")
    sqs_entry = next(s for s in entries if s["data"]["lambda"]["trigger"] == "aws:sqs")
    (http_exit,) = [s for s in spans if s["n"] == "urllib3"]
    (sqs_exit,) = [s for s in spans if s["n"] == "sqs"]
    (s3_exit,) = [s for s in spans if s["n"] == "s3"]

    # one trace, continued from the caller of the API
    assert {s["t"] for s in spans} == {UPSTREAM_T}
    # entry → exit → entry → exit
    assert api_entry["p"] == UPSTREAM_S
    assert http_exit["p"] == api_entry["s"] and sqs_exit["p"] == api_entry["s"]
    assert sqs_entry["p"] == sqs_exit["s"]
    assert s3_exit["p"] == sqs_entry["s"]
    assert [s["k"] for s in (api_entry, http_exit, sqs_exit, sqs_entry, s3_exit)] == [1, 2, 2, 1, 2]
    assert all(s["ec"] == 0 for s in spans)

    # what the spans say about the calls
    assert http_exit["data"]["http"]["url"] == f"{downstream.url}/prices/42"
    assert sqs_exit["data"]["sqs"]["queue"] == queue_url
    assert s3_exit["data"]["s3"] == {
        "op": "PutObject",
        "bucket": bucket,
        "key": delivered[0]["MessageId"],
    }

    # the HTTP service saw this exit as its caller, next to the user's own header
    seen = downstream.requests[0]["headers"]
    assert seen["x-instana-t"] == UPSTREAM_T and seen["x-instana-s"] == http_exit["s"]
    assert seen["x-caller"] == "orders"

    # each invocation's spans left in that invocation's own flush
    per_bundle = [sorted(s["n"] for s in b["spans"]) for b in acceptor.bundles if b["spans"]]
    assert per_bundle == [
        ["aws.lambda.entry", "sqs", "urllib3"],
        ["aws.lambda.entry", "s3"],
    ]
