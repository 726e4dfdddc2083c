"""aiobotocore (what aioboto3 runs on) SQS calls against moto's server on loopback."""

from __future__ import annotations

import asyncio
from typing import Any

import aiobotocore.session
import botocore.exceptions

from tests.conftest import AWS_REGION
from tests.scenarios import Scenario


async def _sqs_call(url: str, op: str, **params: Any) -> Any:
    session = aiobotocore.session.get_session()
    async with session.create_client("sqs", endpoint_url=url, region_name=AWS_REGION) as sqs:
        return await getattr(sqs, op)(**params)


class Sqs(Scenario):
    label = "aiobotocore-sqs"
    fixture = "moto_url"
    imports = ("aiobotocore.session",)
    span_name = "sqs"
    error_path = ("sqs",)
    error = botocore.exceptions.ClientError

    def call(self, target: str) -> Any:
        result = asyncio.run(_sqs_call(target, "list_queues"))
        return result["ResponseMetadata"]["HTTPStatusCode"]

    def failing_call(self, target: str) -> Any:
        return asyncio.run(_sqs_call(target, "get_queue_url", QueueName="no-such-queue"))


SCENARIOS = [Sqs()]
