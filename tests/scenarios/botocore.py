"""boto3 SQS calls against moto's server on loopback."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions

from tests.conftest import AWS_REGION
from tests.scenarios import Scenario


class Sqs(Scenario):
    label = "boto3-sqs"
    fixture = "moto_url"
    imports = ("boto3",)
    span_name = "sqs"
    error_path = ("sqs",)
    error = botocore.exceptions.ClientError

    def _sqs(self, url: str) -> Any:
        return boto3.client("sqs", endpoint_url=url, region_name=AWS_REGION)

    def call(self, target: str) -> Any:
        return self._sqs(target).list_queues()["ResponseMetadata"]["HTTPStatusCode"]

    def failing_call(self, target: str) -> Any:
        return self._sqs(target).get_queue_url(QueueName="no-such-queue")


SCENARIOS = [Sqs()]
