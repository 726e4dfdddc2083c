"""``INSTANA_ALLOW_EXIT_AS_ROOT``: a database call made outside any entry span, against the real
PostgreSQL and Redis servers. Off (the default, as official) it is not traced; on, it is a
root exit span of its own trace, sent with the next flush or when the interpreter exits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import psycopg2
import pytest
import redis

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY, configure_for
from tests.instr_support import patched
from tests.servers import Postgres, Redis

__all__ = ["patched"]  # a fixture, used by name as a test argument

ROOT = Path(__file__).resolve().parent.parent


def test_without_the_setting_a_call_outside_any_entry_sends_nothing(
    patched: None, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    client = configure_for(acceptor)
    with psycopg2.connect(postgres_server.dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    conn.close()
    assert len(client.buffer) == 0
    client.flush()
    assert acceptor.spans() == []


def test_with_it_a_call_outside_any_entry_is_a_root_exit(
    patched: None, acceptor: Acceptor, postgres_server: Postgres
) -> None:
    client = instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY),
        environ={"INSTANA_ALLOW_EXIT_AS_ROOT": "true"},
    )
    conn = psycopg2.connect(postgres_server.dsn)
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    conn.close()
    client.flush()
    spans = acceptor.wait_for_spans(1)
    roots = [s for s in spans if s["n"] == "postgres"]
    assert roots, spans
    for span in roots:
        assert span["k"] == 2 and "p" not in span
        assert span["data"]["pg"]["stmt"] == "SELECT 1"
    # each is a trace of its own
    assert len({span["t"] for span in roots}) == len(roots)
    # the stack shows the line here that made the call
    assert any(frame["c"] == __file__ for frame in roots[0]["stack"])


def test_inside_an_entry_it_changes_nothing(
    patched: None, acceptor: Acceptor, redis_server: Redis
) -> None:
    configure_for(acceptor, allow_exit_as_root=True)
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    with instana.entry_span("job") as entry:
        cache.set("k", "v")
    spans = acceptor.wait_for_spans(2)
    (exit_span,) = [s for s in spans if s["n"] == "redis"]
    assert exit_span["p"] == entry.span_id and exit_span["t"] == entry.trace_id
    cache.close()


SCRIPT = """
import redis
import instana_serverless

cache = redis.Redis(host={host!r}, port={port})
cache.set("job:1", "done")
cache.get("job:1")
print("finished", flush=True)
"""


def run_script(script: str, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={"PATH": "", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def redis_spans(acceptor: Acceptor) -> List[Dict[str, Any]]:
    return [s for s in acceptor.spans() if s["n"] == "redis"]


def test_a_script_sends_its_root_exits_when_it_exits(
    acceptor: Acceptor, redis_server: Redis
) -> None:
    script = "import instana_serverless\ninstana_serverless.instrument()\n" + SCRIPT.format(
        host=redis_server.host, port=redis_server.port
    )
    env = {"INSTANA_ENDPOINT_URL": acceptor.url, "INSTANA_AGENT_KEY": AGENT_KEY}
    done = run_script(script, env)
    assert done.returncode == 0 and "finished" in done.stdout, done.stderr
    assert redis_spans(acceptor) == []  # off by default: nothing

    done = run_script(script, {**env, "INSTANA_ALLOW_EXIT_AS_ROOT": "true"})
    assert done.returncode == 0 and "finished" in done.stdout, done.stderr
    spans = redis_spans(acceptor)
    assert [s["data"]["redis"]["command"] for s in spans] == ["SET", "GET"]
    assert all("p" not in s and s["k"] == 2 for s in spans)


@pytest.mark.parametrize("suppression", ["true", "false"])
def test_filter_rules_apply_to_root_exits(
    patched: None, acceptor: Acceptor, redis_server: Redis, suppression: str
) -> None:
    # suppression: decided when the span starts; without: when it ends (the buffer's hook)
    client = instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY),
        environ={
            "INSTANA_ALLOW_EXIT_AS_ROOT": "true",
            "INSTANA_TRACING_FILTER_EXCLUDE_GETS_ATTRIBUTES": "redis.command;GET",
            "INSTANA_TRACING_FILTER_EXCLUDE_GETS_SUPPRESSION": suppression,
        },
    )
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    cache.set("k", "v")
    assert cache.get("k") == b"v"
    cache.close()
    client.flush()
    assert [s["data"]["redis"]["command"] for s in redis_spans(acceptor)] == ["SET"]
