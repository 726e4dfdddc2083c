"""The demo's scenarios, one per platform, in the order they run and are shown."""

from __future__ import annotations

from typing import Callable, List, NamedTuple

import instana_serverless as instana
from demo import aws_lambda, azure_functions, cloud_run
from demo.harness import Harness


def generic_job(harness: Harness) -> None:
    """A plain Python job with custom spans, continuing a trace from incoming headers; set up
    from the environment (``INSTANA_ENDPOINT_URL``, ``INSTANA_AGENT_KEY``) alone."""
    before = len(harness.acceptor.spans())
    instana.configure()
    headers = {"X-INSTANA-T": "1234567890abcdef", "X-INSTANA-S": "fedcba0987654321"}
    with instana.entry_span("batch.job", headers=headers, data={"items": 3}):
        for item in range(3):
            with instana.span("process-item", tags={"item": item}):
                sum(range(10_000))
    try:
        with instana.entry_span("batch.job.failing"), instana.span("parse"):
            raise ValueError("malformed record")
    except ValueError:
        pass
    harness.acceptor.wait_for_spans(before + 6)


class Scenario(NamedTuple):
    platform: str
    title: str
    run: Callable[[Harness], None]


ALL: List[Scenario] = [
    Scenario(
        "AWS Lambda",
        # under 86 characters: the report's heading centres it in a line of 100
        f"{aws_lambda.API} and five more functions: SQS, Kafka and gRPC hops, Postgres, Redis",
        aws_lambda.run,
    ),
    Scenario("Google Cloud Run", "cloudrun/main.py on functions-framework", cloud_run.run),
    Scenario("Azure Functions", "azure/function_app.py (azure.functions)", azure_functions.run),
    Scenario("Generic Python", "a batch job with custom spans (core API)", generic_job),
]
