"""pymongo exit spans, from pymongo's command monitoring events, against mockupdb (MongoDB's
own wire-protocol test server: no MongoDB server package exists here). Sync MongoClient and
AsyncMongoClient; data keys, masking, errors, listener lifecycle. What every entry shares is in
tests/test_instrumentation_contract.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, Dict, List

import pymongo
import pymongo.errors
import pymongo.monitoring
import pytest
from awslambdaric.lambda_context import LambdaContext

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from instana_serverless.instrumentation import pymongo as pymongo_instr
from tests.conftest import configure_for, span_name
from tests.instr_support import traced
from tests.scenarios.pymongo import FAILING_COMMAND, fail_on
from tests.servers import MongoFake

__all__ = ["traced"]  # a fixture, used by name as a test argument

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:orders"


def mongo_exits(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if span_name(s) == "mongo"]


def connect(server: MongoFake) -> Any:
    return pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=5000)


def test_a_lambda_handler_gets_a_mongo_exit_per_command(
    traced: Client, acceptor: Acceptor, mongo_server: MongoFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "1")
    client = connect(mongo_server)  # after instrument(), as a handler module's client is

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        orders = client.shop.orders
        orders.insert_one({"sku": "a-1", "qty": 2})
        return [doc["sku"] for doc in orders.find({"sku": "a-1"}, {"_id": 0})]

    context = LambdaContext("r", None, None, int(time.time() * 1000) + 9000, FUNCTION_ARN)
    assert handler({}, context) == ["a-1"]
    spans = acceptor.wait_for_spans(3)
    (entry,) = [s for s in spans if s["k"] == 1]
    insert, find = mongo_exits(spans)
    service = f"{mongo_server.host}:{mongo_server.port}"
    for span in (insert, find):
        assert span["k"] == 2 and span["p"] == entry["s"] and span["t"] == entry["t"]
        assert span["ec"] == 0
    assert insert["data"]["mongo"] == {
        "service": service,
        "namespace": "shop.orders",
        "command": "insert",
        "json": insert["data"]["mongo"]["json"],
    }
    (document,) = json.loads(insert["data"]["mongo"]["json"])
    assert document["sku"] == "a-1" and document["qty"] == 2
    assert find["data"]["mongo"] == {
        "service": service,
        "namespace": "shop.orders",
        "command": "find",
        "filter": '{"sku": "a-1"}',
    }
    client.close()


def test_update_delete_and_aggregate_carry_their_documents(
    traced: Client, acceptor: Acceptor, mongo_server: MongoFake
) -> None:
    with connect(mongo_server) as client, instana.entry_span("job"):
        orders = client.shop.orders
        orders.update_one({"sku": "a-1"}, {"$set": {"qty": 3}})
        orders.delete_many({"qty": {"$lt": 1}})
        list(orders.aggregate([{"$match": {"sku": "a-1"}}]))
    exits = mongo_exits(acceptor.wait_for_spans(4))
    by_command = {s["data"]["mongo"]["command"]: s["data"]["mongo"] for s in exits}
    assert set(by_command) == {"update", "delete", "aggregate"}
    assert json.loads(by_command["update"]["json"]) == [
        {"q": {"sku": "a-1"}, "u": {"$set": {"qty": 3}}, "multi": False, "upsert": False}
    ]
    assert json.loads(by_command["delete"]["json"]) == [{"q": {"qty": {"$lt": 1}}, "limit": 0}]
    assert json.loads(by_command["aggregate"]["json"]) == [{"$match": {"sku": "a-1"}}]


def test_secret_keys_are_masked_and_long_documents_cut(
    traced: Client, acceptor: Acceptor, mongo_server: MongoFake
) -> None:
    with connect(mongo_server) as client, instana.entry_span("job"):
        client.shop.users.find_one({"name": "ann", "password": "hunter2"})
        client.shop.blobs.insert_one({"body": "x" * 5000})
    find, insert = mongo_exits(acceptor.wait_for_spans(3))
    assert "hunter2" not in json.dumps(find)
    assert json.loads(find["data"]["mongo"]["filter"])["password"] == "<redacted>"
    assert len(insert["data"]["mongo"]["json"]) == pymongo_instr.MAX_JSON


def test_server_error_is_recorded_and_reraised(
    traced: Client, acceptor: Acceptor, mongo_server: MongoFake
) -> None:
    responder = fail_on(mongo_server)
    client = connect(mongo_server)
    try:
        with pytest.raises(pymongo.errors.OperationFailure) as raised, instana.entry_span("job"):
            client.shop.command(FAILING_COMMAND)
    finally:
        responder.cancel()
        client.close()
    assert raised.value.code == 59
    (span,) = mongo_exits(acceptor.wait_for_spans(2))
    assert span["ec"] == 1
    assert span["data"]["mongo"]["command"] == FAILING_COMMAND
    assert span["data"]["mongo"]["namespace"] == "shop"
    assert span["data"]["mongo"]["error"] == "OperationFailure: no such command (code 59)"


def test_async_client(traced: Client, acceptor: Acceptor, mongo_server: MongoFake) -> None:
    async def run() -> Any:
        client: Any = pymongo.AsyncMongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
        try:
            with instana.entry_span("job") as entry:
                await asyncio.gather(
                    client.shop.a.insert_one({"n": 1}), client.shop.b.insert_one({"n": 2})
                )
                found = await client.shop.a.find_one({"n": 1})
            return entry.span_id, found["n"]
        finally:
            await client.close()

    entry_id, found = asyncio.run(run())
    assert found == 1
    exits = mongo_exits(acceptor.wait_for_spans(4))
    assert sorted(s["data"]["mongo"]["namespace"] for s in exits) == [
        "shop.a",
        "shop.a",
        "shop.b",
    ]
    assert all(s["p"] == entry_id and s["ec"] == 0 for s in exits)


def _ours() -> List[Any]:
    return [
        item
        for item in pymongo.monitoring._LISTENERS.command_listeners
        if hasattr(item, "instana_spans")
    ]


def test_listener_lifecycle(client: Client, acceptor: Acceptor, mongo_server: MongoFake) -> None:
    uninstrument()
    before = connect(mongo_server)  # created before instrument(): pymongo gave it no listener
    try:
        assert _ours() == []
        instrument()
        instrument()
        assert len(_ours()) == 1  # registered once
        during = connect(mongo_server)
        with instana.entry_span("job"):
            before.shop.x.find_one({})
            during.shop.y.find_one({})
        (span,) = mongo_exits(acceptor.wait_for_spans(2))
        assert span["data"]["mongo"]["namespace"] == "shop.y"
        uninstrument()
        assert _ours() == []  # new clients no longer get it ...
        with instana.entry_span("job2"):
            during.shop.y.find_one({})  # ... and the one that has it is silenced
        client.flush()
        assert mongo_exits(acceptor.spans()) == [span]
        instrument()  # the same listener, switched on again
        with instana.entry_span("job3"):
            during.shop.y.find_one({})
        client.flush()
        assert len(mongo_exits(acceptor.spans())) == 2
        during.close()
    finally:
        uninstrument()
        before.close()


def test_a_failure_of_ours_leaves_the_command_alone(
    traced: Client,
    acceptor: Acceptor,
    mongo_server: MongoFake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(event: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(pymongo_instr, "describe", broken)
    with connect(mongo_server) as client, instana.entry_span("job"):
        client.shop.orders.insert_one({"sku": "b"})
        assert client.shop.orders.find_one({"sku": "b"})["sku"] == "b"
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["job"]


def test_instrumenting_after_pymongo_was_imported_says_what_is_not_traced(
    acceptor: Acceptor, all_logs: List[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_for(acceptor, log_level="info")
    uninstrument()
    monkeypatch.delattr(pymongo.monitoring, "_instana_serverless_listener", raising=False)
    try:
        instrument()  # pymongo is imported already: its clients may exist
        said = [r for r in all_logs if "created before instrument()" in r.getMessage()]
        assert [r.levelname for r in said] == ["INFO"]
    finally:
        uninstrument()
        instana.configure(environ={})


def test_the_layer_traces_a_client_made_when_the_handler_module_loads(
    acceptor: Acceptor,
    client: Client,
    mongo_server: MongoFake,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "1")
    monkeypatch.setenv("ORDERS_MONGO_URI", mongo_server.uri)
    (tmp_path / "orders_app.py").write_text(
        "import os, pymongo\n"
        "CLIENT = pymongo.MongoClient(os.environ['ORDERS_MONGO_URI'])  # at module load\n"
        "def handler(event, context):\n"
        "    return CLIENT.shop.orders.find_one({'sku': 'z'})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    uninstrument()
    try:
        monkeypatch.setenv("LAMBDA_HANDLER", "orders_app.handler")
        sys.modules.pop("instana_serverless.lambda_layer", None)
        handler = importlib.import_module("instana_serverless.lambda_layer").handler
        context = LambdaContext("r", None, None, int(time.time() * 1000) + 9000, FUNCTION_ARN)
        assert handler({}, context) is None
        spans = acceptor.wait_for_spans(2)
        (entry,) = [s for s in spans if s["k"] == 1]
        (span,) = mongo_exits(spans)
        assert span["p"] == entry["s"] and span["data"]["mongo"]["namespace"] == "shop.orders"
    finally:
        uninstrument()
        sys.modules.pop("orders_app", None)
        sys.modules.pop("instana_serverless.lambda_layer", None)
