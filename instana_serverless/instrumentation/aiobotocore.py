"""Exit spans for aiobotocore (and aioboto3, built on it): the same spans, data and context
in SQS/SNS messages and Lambda ClientContext as for botocore.

``AioBaseClient._make_api_call`` is the coroutine every operation of an async client awaits,
with its parameters before validation and signing; the start, inject and end functions are
botocore's own (instrumentation/botocore.py), so both libraries describe an AWS call in one
place. The span covers the await, including the HTTP request aiobotocore makes with aiohttp
(the registry row covers ``aiohttp``: no second exit inside).
"""

from __future__ import annotations

from . import botocore
from ._patches import Method

PATCHES = {
    "aiobotocore.client": (
        Method(
            "AioBaseClient",
            "_make_api_call",
            botocore.start,
            botocore.end,
            inject=botocore.inject_context,
        ),
    ),
}
