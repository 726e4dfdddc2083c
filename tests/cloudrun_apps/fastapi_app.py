"""FastAPI on uvicorn, traced by ``ASGIMiddleware``:
``uvicorn tests.cloudrun_apps.fastapi_app:app``."""

from __future__ import annotations

from typing import Any, Iterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

import instana_serverless as instana

api = FastAPI()


@api.get("/r/{number}")
async def one(number: int) -> Any:
    with instana.span("render", tags={"number": number}):
        return {"number": number}


@api.get("/stream/{number}")
async def stream(number: int) -> Any:
    def chunks() -> Iterator[str]:
        for part in range(3):
            yield f"{number}:{part}\n"

    return StreamingResponse(chunks(), media_type="text/plain")  # no Content-Length


app = instana.ASGIMiddleware(api)
