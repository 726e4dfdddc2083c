from __future__ import annotations

from typing import Any, Dict

from fastapi import FastAPI, HTTPException

import instana_serverless as instana
from tests.webapps import BROKEN, downstream

app = FastAPI()


@app.get("/users/{user_id}")
def user(user_id: int) -> Dict[str, Any]:  # a plain def: FastAPI runs it in a worker thread
    downstream()
    return {"id": user_id}


@app.get("/boom")
async def boom() -> Any:
    raise ValueError(BROKEN)


@app.get("/down")
async def down() -> Any:
    raise HTTPException(503, "db down")


def traced() -> Any:
    """The app inside our middleware (built on call: the plain ``app`` stays untouched)."""
    return instana.ASGIMiddleware(app)
