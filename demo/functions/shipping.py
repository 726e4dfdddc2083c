"""Two Lambda functions around a Kafka topic, deployed from this directory (the task root).

``shipping.dispatch`` (function ``dispatch``, behind API Gateway ``POST /shipments``) publishes
the shipment to the ``shipments`` topic with kafka-python. ``shipping.ship`` (function
``shipping``, fed by that topic through an MSK event source mapping) books each shipment with
the carrier's API.

Nothing here mentions Instana: both run under the layer's handler, which puts the trace
context in the record's headers and continues it from the MSK event.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Dict

import requests
from kafka import KafkaProducer

# Created once per sandbox, at init.
producer = KafkaProducer(bootstrap_servers=os.environ.get("SHIPMENTS_BOOTSTRAP", "127.0.0.1:9"))
http = requests.Session()


def dispatch(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    shipment = json.loads(event.get("body") or "{}")
    shipment["id"] = context.aws_request_id
    producer.send(
        os.environ["SHIPMENTS_TOPIC"], json.dumps(shipment).encode(), key=shipment["id"].encode()
    ).get(10)
    return {
        "statusCode": 202,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(shipment),
    }


def ship(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    booked = []
    for records in event["records"].values():
        for record in records:
            shipment = json.loads(base64.b64decode(record["value"]))
            answer = http.post(f"{os.environ['CARRIER_URL']}/bookings", json=shipment, timeout=5)
            answer.raise_for_status()
            booked.append(answer.json()["booking"])
    return {"booked": booked}
