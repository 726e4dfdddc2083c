"""aiobotocore / aioboto3 exit spans against moto in server mode over real HTTP: the same
span names, data and message context as botocore (the functions are botocore's own).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aioboto3
import aiobotocore.session
import botocore.exceptions
import pytest
from awslambdaric.lambda_context import LambdaContext

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from tests.conftest import AWS_REGION
from tests.instr_support import exits, traced

__all__ = ["traced"]  # a fixture, used by name as a test argument

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:async-worker"


def client_for(url: str, service: str) -> Any:
    session = aiobotocore.session.get_session()
    return session.create_client(service, endpoint_url=url, region_name=AWS_REGION)


def test_lambda_handler_sqs_send_carries_the_context(
    traced: Client, acceptor: Acceptor, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "1")
    queue_name = f"aio-{time.time_ns()}"
    attributes = {"tenant": {"DataType": "String", "StringValue": "acme"}}

    async def send() -> Any:
        async with client_for(moto_url, "sqs") as sqs:
            queue = (await sqs.create_queue(QueueName=queue_name))["QueueUrl"]
            await sqs.send_message(
                QueueUrl=queue, MessageBody="hello", MessageAttributes=attributes
            )
            return queue

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return asyncio.run(send())

    context = LambdaContext("r", None, None, int(time.time() * 1000) + 9000, FUNCTION_ARN)
    queue = handler({}, context)
    spans = acceptor.wait_for_spans(3)
    (entry,) = [s for s in spans if s["k"] == 1]
    create, send_span = exits(spans)
    for span in (create, send_span):
        assert span["n"] == "sqs" and span["p"] == entry["s"] and span["ec"] == 0
    assert create["data"]["sqs"] == {"sort": "exit", "type": "CreateQueue", "queue": queue_name}
    assert send_span["data"]["sqs"] == {"sort": "exit", "type": "SendMessage", "queue": queue}
    assert set(attributes) == {"tenant"}  # the caller's dict is not touched

    async def receive() -> Any:
        async with client_for(moto_url, "sqs") as sqs:
            got = await sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])
            return got["Messages"][0]["MessageAttributes"]

    received = {k: v["StringValue"] for k, v in asyncio.run(receive()).items()}
    assert received == {
        "tenant": "acme",
        "X_INSTANA_T": send_span["t"],
        "X_INSTANA_S": send_span["s"],
        "X_INSTANA_L": "1",
    }


def test_aioboto3_s3_and_dynamodb(traced: Client, acceptor: Acceptor, moto_url: str) -> None:
    bucket = f"aio-bucket-{time.time_ns()}"
    table = f"aio-table-{time.time_ns()}"

    async def run() -> Any:
        session = aioboto3.Session()
        async with session.client("s3", endpoint_url=moto_url, region_name=AWS_REGION) as s3:
            await s3.create_bucket(Bucket=bucket)
            await s3.put_object(Bucket=bucket, Key="reports/1.csv", Body=b"a,b")
        async with session.client(
            "dynamodb", endpoint_url=moto_url, region_name=AWS_REGION
        ) as dynamodb:
            await dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            await dynamodb.put_item(TableName=table, Item={"id": {"S": "1"}})

    with instana.entry_span("job") as entry:
        asyncio.run(run())
    spans = exits(acceptor.wait_for_spans(5))
    assert [s["n"] for s in spans] == ["s3", "s3", "dynamodb", "dynamodb"]
    assert all(s["p"] == entry.span_id for s in spans)
    assert spans[1]["data"]["s3"] == {"op": "PutObject", "bucket": bucket, "key": "reports/1.csv"}
    assert spans[3]["data"]["dynamodb"] == {"op": "PutItem", "table": table, "region": AWS_REGION}


def test_sns_publish_and_generic_boto3_span(
    traced: Client, acceptor: Acceptor, moto_url: str
) -> None:
    async def run() -> None:
        async with client_for(moto_url, "sns") as sns:
            topic = (await sns.create_topic(Name=f"t{time.time_ns()}"))["TopicArn"]
            await sns.publish(TopicArn=topic, Message="hi", Subject="greeting")
        async with client_for(moto_url, "sts") as sts:
            await sts.get_caller_identity()

    with instana.entry_span("job"):
        asyncio.run(run())
    create, publish, identity = exits(acceptor.wait_for_spans(4))
    assert create["n"] == publish["n"] == "sns"
    assert publish["data"]["sns"]["subject"] == "greeting"
    assert identity["n"] == "boto3"
    assert identity["data"]["boto3"]["op"] == "GetCallerIdentity"
    assert identity["data"]["boto3"]["http_status"] == 200


def test_client_error_is_recorded_and_reraised(
    traced: Client, acceptor: Acceptor, moto_url: str
) -> None:
    async def run() -> None:
        async with client_for(moto_url, "sqs") as sqs:
            await sqs.get_queue_url(QueueName="no-such-queue")

    with pytest.raises(botocore.exceptions.ClientError), instana.entry_span("job"):
        asyncio.run(run())
    (span,) = exits(acceptor.wait_for_spans(2))
    assert span["n"] == "sqs" and span["ec"] == 1
    assert "QueueDoesNotExist" in span["data"]["sqs"]["error"]  # botocore's ClientError subclass


def test_concurrent_calls_each_get_their_own_span(
    traced: Client, acceptor: Acceptor, moto_url: str
) -> None:
    async def run() -> None:
        async with client_for(moto_url, "sqs") as sqs:
            await asyncio.gather(*(sqs.list_queues() for _ in range(4)))

    with instana.entry_span("job") as entry:
        asyncio.run(run())
    spans = exits(acceptor.wait_for_spans(5))
    assert len(spans) == 4 and all(s["p"] == entry.span_id for s in spans)
    assert len({s["s"] for s in spans}) == 4
