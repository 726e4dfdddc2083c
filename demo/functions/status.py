"""A fourth Lambda function of the shop, ``order-status`` (API Gateway ``GET /orders/{id}``):
asks the order service over gRPC for the order (a unary call) and its updates (a response
stream).

It never mentions Instana: the layer's handler traces it, both calls become ``rpc-client``
exits carrying the trace in their metadata, and the order service's ``rpc-server`` entries
continue it. The channel is made at init and kept, as a warm sandbox keeps it.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

import grpc

channel = grpc.insecure_channel(os.environ["ORDERS_GRPC_TARGET"])
get_order = channel.unary_unary("/demo.Orders/Get")
watch_order = channel.unary_stream("/demo.Orders/Watch")


def order_status(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    order_id = event["path"].rstrip("/").rsplit("/", 1)[-1].encode()
    order = json.loads(get_order(order_id, timeout=5))["order"]
    updates = [update.decode() for update in watch_order(order_id, timeout=5)]
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"order": order, "updates": updates}),
    }
