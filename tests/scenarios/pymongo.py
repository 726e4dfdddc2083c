"""pymongo's MongoClient and AsyncMongoClient against mockupdb, MongoDB's own wire-protocol
test server (no MongoDB server package exists here)."""

from __future__ import annotations

import asyncio
from typing import Any

import pymongo
import pymongo.errors

from tests.scenarios import Scenario
from tests.servers import MongoFake

FAILING_COMMAND = "instanaFails"


def fail_on(target: MongoFake) -> Any:
    """Make the fake answer ``FAILING_COMMAND`` with a server error (cancel() undoes it)."""
    return target.server.autoresponds(FAILING_COMMAND, ok=0, errmsg="no such command", code=59)


class Sync(Scenario):
    label = "pymongo-sync"
    fixture = "mongo_server"
    imports = ("pymongo",)
    span_name = "mongo"
    error_path = ("mongo",)
    error = pymongo.errors.OperationFailure

    def call(self, target: MongoFake) -> Any:
        # a client per call: created after instrument(), as pymongo takes listeners then
        with pymongo.MongoClient(target.uri, serverSelectionTimeoutMS=5000) as client:
            return client.shop.orders.insert_one({"sku": "a-1"}).acknowledged

    def failing_call(self, target: MongoFake) -> Any:
        responder = fail_on(target)
        try:
            with pymongo.MongoClient(target.uri, serverSelectionTimeoutMS=5000) as client:
                return client.shop.command(FAILING_COMMAND)
        finally:
            responder.cancel()


class Async(Sync):
    label = "pymongo-async"

    def call(self, target: MongoFake) -> Any:
        async def run() -> Any:
            client: Any = pymongo.AsyncMongoClient(target.uri, serverSelectionTimeoutMS=5000)
            try:
                return (await client.shop.orders.insert_one({"sku": "a-1"})).acknowledged
            finally:
                await client.close()

        return asyncio.run(run())

    def failing_call(self, target: MongoFake) -> Any:
        async def run() -> Any:
            client: Any = pymongo.AsyncMongoClient(target.uri, serverSelectionTimeoutMS=5000)
            try:
                return await client.shop.command(FAILING_COMMAND)
            finally:
                await client.close()

        responder = fail_on(target)
        try:
            return asyncio.run(run())
        finally:
            responder.cancel()


SCENARIOS = [Sync(), Async()]
