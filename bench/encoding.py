"""Bundle encoding: the warm path (one JSON encode of the whole batch) and the per-span
fallback a value JSON cannot carry (a date key, NaN) takes instead of failing the flush.

    .venv/bin/python bench/encoding.py

Prints medians only; nothing passes or fails. Run it from another checkout (its own
``bench/encoding.py``) to compare before and after a change: it imports the package next to it.
"""

from __future__ import annotations

import datetime
import math
import sys
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import median_us, table
from instana_serverless import reporter
from instana_serverless.reporter import encode_bundles


def wire(index: int) -> Dict[str, Any]:
    """A span as the reporter hands it over: an HTTP entry with a few tags."""
    return {
        "t": "a1b2c3d4e5f60718",
        "s": f"{index:016x}",
        "p": "0000000000000001",
        "ts": 1_700_000_000_000 + index,
        "d": 12,
        "n": "aws.lambda.entry",
        "k": 1,
        "ec": 0,
        "f": {"hl": True, "cp": "aws", "e": "arn:aws:lambda:eu-west-1:1:function:orders:7"},
        "data": {
            "lambda": {"arn": "arn:aws:lambda:eu-west-1:1:function:orders:7", "coldStart": False},
            "http": {"method": "GET", "url": "/orders", "params": "page=1", "status": 200},
            "sdk": {"custom": {"tags": {"ratio": 0.25, "items": [1, 2, 3], "ok": True}}},
        },
    }


PLUGIN = {"name": "com.instana.plugin.python", "entityId": "1", "data": {"pid": 1, "threads": 4}}


def main() -> None:
    rounds = 31
    rows = []
    for count in (1, 100, 1000):
        spans: List[Dict[str, Any]] = [wire(i) for i in range(count)]
        inner = max(1, 2000 // count)
        us = median_us(lambda spans=spans: encode_bundles(spans, [PLUGIN]), rounds, inner)
        rows.append((f"warm path, {count} spans", f"{us:.1f} us  ({us / count:.2f} us/span)"))
    if hasattr(reporter, "EncodingProblems"):  # the fallback only exists after the fix
        for label, bad in (
            ("date key", {datetime.date(2024, 1, 1): 3}),
            ("NaN", math.nan),
        ):
            spans = [wire(i) for i in range(100)]
            spans[50]["data"]["sdk"]["custom"]["tags"]["bad"] = bad
            us = median_us(lambda spans=spans: encode_bundles(spans, [PLUGIN]), rounds, 20)
            rows.append((f"fallback, 100 spans, one {label}", f"{us:.1f} us"))
    print(f"bundle encoding (medians), package at {Path(reporter.__file__).parent}")
    print(table(rows))


if __name__ == "__main__":
    main()
