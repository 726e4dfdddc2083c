"""Two Lambda functions of a small shop, deployed from this directory (the task root).

``orders.create_order`` (function ``orders-api``, behind API Gateway ``POST /orders``) asks the
inventory service over HTTP whether the item is in stock and queues the order on SQS.
``orders.fulfil_order`` (function ``order-worker``, fed by that queue) writes a receipt to S3.

Nothing here mentions Instana: both functions run under the layer's handler
(``instana_serverless.lambda_layer.handler``) with ``LAMBDA_HANDLER`` naming these.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import boto3
import requests

# Created once per sandbox, at init, as AWS recommends.
sqs = boto3.client("sqs")
s3 = boto3.client("s3")
http = requests.Session()


def _response(status: int, body: Any) -> Dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def create_order(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    order = json.loads(event.get("body") or "{}")
    item = order.get("item")
    if not item:
        return _response(400, {"error": "item is required"})
    stock = http.get(f"{os.environ['INVENTORY_URL']}/stock/{item}", timeout=5)
    stock.raise_for_status()
    if stock.json().get("available", 0) < order.get("quantity", 1):
        return _response(409, {"error": f"{item} is out of stock"})
    order["id"] = context.aws_request_id
    sqs.send_message(QueueUrl=os.environ["ORDERS_QUEUE_URL"], MessageBody=json.dumps(order))
    return _response(201, order)


def fulfil_order(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    for record in event["Records"]:
        order = json.loads(record["body"])
        receipt = {"order": order["id"], "item": order["item"], "message": record["messageId"]}
        s3.put_object(
            Bucket=os.environ["RECEIPTS_BUCKET"],
            Key=f"receipts/{order['id']}.json",
            Body=json.dumps(receipt).encode(),
            ContentType="application/json",
        )
    return {"batchItemFailures": []}
