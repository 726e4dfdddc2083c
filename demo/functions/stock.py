"""A third Lambda function of the shop, ``stock-report`` (API Gateway ``GET /stock``): reads the
stock levels from PostgreSQL (psycopg2), counts the reports in Redis and asks the pricing API
(httpx) what the stock is worth.

Like ``orders.py`` it never mentions Instana: the layer's handler traces it, and the three
calls become exit spans of one trace. Connections are made on the first invocation and kept,
as a warm sandbox keeps them.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import httpx
import psycopg2
import redis

http = httpx.Client(timeout=5)
cache = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
_db: Optional[Any] = None


def _database() -> Any:
    global _db
    if _db is None or _db.closed:
        _db = psycopg2.connect(os.environ["DATABASE_URL"])
        _db.autocommit = True
    return _db


def report(event: Dict[str, Any], context: Any) -> Dict[str, Any]:
    with _database().cursor() as cursor:
        cursor.execute("SELECT item, available FROM stock WHERE available > %s ORDER BY item", (0,))
        stock = dict(cursor.fetchall())
    reports = cache.incr("stock:reports")
    prices = http.get(f"{os.environ['PRICING_URL']}/prices", params={"items": ",".join(stock)})
    prices.raise_for_status()
    value = sum(prices.json().get(item, 0) * count for item, count in stock.items())
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"stock": stock, "value": value, "report": reports}),
    }
