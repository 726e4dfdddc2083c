"""Lambda events as AWS delivers them: an API Gateway (REST, proxy) request, and the SQS and MSK
events an event source mapping builds from messages or records it received."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, Mapping, Sequence

ACCOUNT = "123456789012"
API_ID = "a1b2c3d4e5"


def api_gateway_request(
    method: str, path: str, body: Any, region: str, stage: str = "prod"
) -> Dict[str, Any]:
    host = f"{API_ID}.execute-api.{region}.amazonaws.com"
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Host": host,
        "User-Agent": "curl/8.4.0",
        "X-Forwarded-Proto": "https",
    }
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": host,
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.4.0"},
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "resourcePath": path,
            "stage": stage,
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _attribute(value: Mapping[str, Any]) -> Dict[str, Any]:
    """A message attribute as ReceiveMessage returns it, spelled as the Lambda event does."""
    attribute: Dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute


def sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str) -> Dict[str, Any]:
    """``messages`` from ``ReceiveMessage`` (all attributes asked for) as one Lambda event."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes") or {}),
                "messageAttributes": {
                    name: _attribute(value)
                    for name, value in (message.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


def msk_event(records: Sequence[Any], cluster_arn: str, bootstrap: str) -> Dict[str, Any]:
    """Kafka ``records`` (confluent-kafka messages) as the MSK event source delivers them:
    grouped by ``topic-partition``, key and value in base64, header values as byte arrays."""
    grouped: Dict[str, Any] = {}
    for record in records:
        grouped.setdefault(f"{record.topic()}-{record.partition()}", []).append(
            {
                "topic": record.topic(),
                "partition": record.partition(),
                "offset": record.offset(),
                "timestamp": record.timestamp()[1],
                "timestampType": "CREATE_TIME",
                "key": base64.b64encode(record.key() or b"").decode("ascii"),
                "value": base64.b64encode(record.value() or b"").decode("ascii"),
                "headers": [{name: list(value)} for name, value in record.headers() or []],
            }
        )
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": cluster_arn,
        "bootstrapServers": bootstrap,
        "records": grouped,
    }
