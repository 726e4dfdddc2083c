"""redis-py exit spans against a real redis-server and a real three-node Redis Cluster:
sync and asyncio clients, pipelines, WATCH, errors. What every entry shares is in
tests/test_instrumentation_contract.py; this file checks redis's own data and peculiarities.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Dict, List

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from awslambdaric.lambda_context import LambdaContext

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import lambda_handler
from instana_serverless.client import Client
from tests.instr_support import traced
from tests.servers import Redis, RedisCluster

__all__ = ["traced"]  # a fixture, used by name as a test argument

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cache"


def redis_exits(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if s["n"] == "redis"]


def spans_of(client: Client, acceptor: Acceptor) -> List[Dict[str, Any]]:
    client.flush()
    return acceptor.spans()


def test_a_lambda_handler_gets_one_redis_exit_per_command(
    traced: Client, acceptor: Acceptor, redis_server: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "1")
    cache = redis.Redis(host=redis_server.host, port=redis_server.port, db=0)

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        cache.set("user:7:name", "top-secret-value")
        return cache.get("user:7:name")

    context = LambdaContext("r", None, None, int(time.time() * 1000) + 9000, FUNCTION_ARN)
    assert handler({}, context) == b"top-secret-value"
    spans = acceptor.wait_for_spans(3)
    (entry,) = [s for s in spans if s["k"] == 1]
    exits = redis_exits(spans)
    assert [s["data"]["redis"]["command"] for s in exits] == ["SET", "GET"]
    for span in exits:
        assert span["k"] == 2 and span["p"] == entry["s"] and span["t"] == entry["t"]
        assert span["ec"] == 0
        assert span["data"]["redis"] == {
            "connection": f"redis://{redis_server.host}:{redis_server.port}/0",
            "driver": "redis-py",
            "command": span["data"]["redis"]["command"],
        }
    # command names only: neither keys nor values leave the function
    text = json.dumps(exits)
    assert "user:7" not in text and "top-secret" not in text
    cache.close()


def test_pipeline_is_one_span_with_its_sub_commands(
    traced: Client, acceptor: Acceptor, redis_server: Redis
) -> None:
    cache = redis.Redis(host=redis_server.host, port=redis_server.port, db=2)
    with instana.entry_span("job") as entry, cache.pipeline() as pipe:
        pipe.set("a", 1).incr("a").get("a")
        assert pipe.execute() == [True, 2, b"2"]
        assert pipe.execute() == []  # empty: nothing sent, no span
    (span,) = redis_exits(acceptor.wait_for_spans(2))
    assert span["p"] == entry.span_id
    assert span["data"]["redis"] == {
        "connection": f"redis://{redis_server.host}:{redis_server.port}/2",
        "driver": "redis-py",
        "command": "PIPELINE",
        "subCommands": ["SET", "INCRBY", "GET"],  # as redis-py sends INCR
    }
    cache.close()


def test_watch_in_a_transaction_is_traced_as_sent(
    traced: Client, acceptor: Acceptor, redis_server: Redis
) -> None:
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    with instana.entry_span("job"), cache.pipeline() as pipe:
        pipe.watch("stock")
        pipe.multi()
        pipe.set("stock", 3)
        pipe.execute()
    exits = redis_exits(acceptor.wait_for_spans(3))
    assert [s["data"]["redis"]["command"] for s in exits] == ["WATCH", "PIPELINE"]
    assert exits[1]["data"]["redis"]["subCommands"] == ["SET"]
    cache.close()


def test_asyncio_client_and_pipeline(
    traced: Client, acceptor: Acceptor, redis_server: Redis
) -> None:
    async def run() -> Any:
        cache = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
        try:
            with instana.entry_span("job"):
                await cache.set("k", "v")
                async with cache.pipeline(transaction=False) as pipe:
                    pipe.get("k").delete("k")
                    return await pipe.execute()
        finally:
            await cache.aclose()

    assert asyncio.run(run()) == [b"v", 1]
    exits = redis_exits(acceptor.wait_for_spans(3))
    assert [s["data"]["redis"]["command"] for s in exits] == ["SET", "PIPELINE"]
    assert exits[1]["data"]["redis"]["subCommands"] == ["GET", "DEL"]
    assert {s["data"]["redis"]["driver"] for s in exits} == {"redis-py"}


def test_concurrent_async_commands_each_get_their_own_span(
    traced: Client, acceptor: Acceptor, redis_server: Redis
) -> None:
    async def run() -> None:
        cache = redis.asyncio.Redis(host=redis_server.host, port=redis_server.port)
        try:
            with instana.entry_span("job") as entry:
                await asyncio.gather(*(cache.incr(f"n{i}") for i in range(5)))
            assert entry.span_id
        finally:
            await cache.aclose()

    asyncio.run(run())
    spans = acceptor.wait_for_spans(6)
    (entry,) = [s for s in spans if s["k"] == 1]
    exits = redis_exits(spans)
    assert len(exits) == 5 and all(s["p"] == entry["s"] for s in exits)


def test_error_is_recorded_and_reraised(
    traced: Client, acceptor: Acceptor, redis_server: Redis
) -> None:
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    cache.set("text", "abc")
    with pytest.raises(redis.exceptions.ResponseError), instana.entry_span("job"):
        cache.incr("text")
    (span,) = redis_exits(acceptor.wait_for_spans(2))
    assert span["ec"] == 1
    assert span["data"]["redis"]["command"] == "INCRBY"
    assert "ResponseError" in span["data"]["redis"]["error"]
    cache.close()


def test_credentials_in_the_url_never_reach_the_span(
    traced: Client, acceptor: Acceptor, redis_server: Redis
) -> None:
    url = f"redis://agent:s3cr3t-pw@{redis_server.host}:{redis_server.port}/1"
    cache = redis.Redis.from_url(url)
    # this server has no users: the AUTH handshake fails, the command span still says where
    with pytest.raises(redis.exceptions.RedisError), instana.entry_span("job"):
        cache.ping()
    (span,) = redis_exits(acceptor.wait_for_spans(2))
    assert span["data"]["redis"]["connection"] == (
        f"redis://{redis_server.host}:{redis_server.port}/1"
    )
    assert "s3cr3t" not in json.dumps(span)
    cache.close()


# --- Redis Cluster ----------------------------------------------------------------------------


def _cluster(server: RedisCluster) -> redis.cluster.RedisCluster:
    nodes = [redis.cluster.ClusterNode(host, port) for host, port in server.startup_nodes]
    return redis.cluster.RedisCluster(startup_nodes=nodes)


def test_cluster_command_is_one_span(
    traced: Client, acceptor: Acceptor, redis_cluster_server: RedisCluster
) -> None:
    cluster = _cluster(redis_cluster_server)  # created (slots discovered) outside the trace
    with instana.entry_span("job") as entry:
        for key in ("a", "b", "c", "d"):  # keys on different nodes
            cluster.set(key, key)
        assert cluster.get("c") == b"c"
    exits = redis_exits(acceptor.wait_for_spans(6))
    # one span per logical command, none from the node clients RedisCluster uses inside
    assert [s["data"]["redis"]["command"] for s in exits] == ["SET"] * 4 + ["GET"]
    ports = {str(port) for port in redis_cluster_server.ports}
    for span in exits:
        assert span["p"] == entry.span_id and span["ec"] == 0
        connection = span["data"]["redis"]["connection"]
        assert connection.startswith(f"redis://{redis_cluster_server.host}:")
        assert connection.rsplit(":", 1)[1] in ports
    cluster.close()


def test_cluster_pipeline_is_one_span(
    traced: Client, acceptor: Acceptor, redis_cluster_server: RedisCluster
) -> None:
    cluster = _cluster(redis_cluster_server)
    with instana.entry_span("job"):
        pipe = cluster.pipeline()
        pipe.set("x", 1).set("y", 2).get("x")
        assert pipe.execute() == [True, True, b"1"]
    (span,) = redis_exits(acceptor.wait_for_spans(2))
    assert span["data"]["redis"]["command"] == "PIPELINE"
    assert span["data"]["redis"]["subCommands"] == ["SET", "SET", "GET"]
    assert span["data"]["redis"]["driver"] == "redis-py"
    cluster.close()


def test_asyncio_cluster_command_and_pipeline(
    traced: Client, acceptor: Acceptor, redis_cluster_server: RedisCluster
) -> None:
    async def run() -> Any:
        nodes = [
            redis.asyncio.cluster.ClusterNode(host, port)
            for host, port in redis_cluster_server.startup_nodes
        ]
        cluster = redis.asyncio.cluster.RedisCluster(startup_nodes=nodes)
        await cluster.initialize()
        try:
            with instana.entry_span("job"):
                await cluster.set("p", "q")
                pipe = cluster.pipeline()
                pipe.get("p").delete("p")
                return await pipe.execute()
        finally:
            await cluster.aclose()

    assert asyncio.run(run()) == [b"q", 1]
    exits = redis_exits(acceptor.wait_for_spans(3))
    assert [s["data"]["redis"]["command"] for s in exits] == ["SET", "PIPELINE"]
    assert exits[1]["data"]["redis"]["subCommands"] == ["GET", "DEL"]
    assert exits[1]["data"]["redis"]["connection"].startswith("redis://")
