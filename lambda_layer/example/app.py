"""Example handlers for template.yaml: the layer wraps them through LAMBDA_HANDLER."""

from __future__ import annotations

import json
from typing import Any, Dict


def api_handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    order_id = (event.get("pathParameters") or {}).get("id", "unknown")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"order": order_id}),
    }


def sqs_handler(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        try:
            json.loads(record["body"])
        except ValueError:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
