"""Span filtering with the official sensor's variables and file section: real redis-server,
a real Flask app on a real wsgiref server, a real loopback HTTP service downstream."""

from __future__ import annotations

import http.client
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List
from wsgiref.simple_server import WSGIRequestHandler, make_server

import flask
import pytest
import redis
import requests

import instana_serverless as instana
from instana_serverless import doctor
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.config import resolve_quietly
from instana_serverless.middleware import WSGIMiddleware
from instana_serverless.yaml_subset import YamlError, loads
from tests.conftest import AGENT_KEY
from tests.http_service import Downstream
from tests.instr_support import in_lambda, patched
from tests.servers import Redis

__all__ = ["patched"]  # a fixture, used by name as a test argument

GET_RULE = {"INSTANA_TRACING_FILTER_EXCLUDE_CACHEGETS_ATTRIBUTES": "type;redis|redis.command;GET"}
HEALTH_RULE = {"INSTANA_TRACING_FILTER_EXCLUDE_HEALTH_ATTRIBUTES": "http.path;/health"}


def configure(acceptor: Acceptor, environ: Dict[str, str], **options: Any) -> Client:
    return instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, **options),
        environ=environ,
    )


def redis_commands(spans: List[Dict[str, Any]]) -> List[str]:
    return [s["data"]["redis"]["command"] for s in spans if s["n"] == "redis"]


def test_an_exclude_rule_for_redis_get_drops_gets_and_keeps_sets(
    patched: None, acceptor: Acceptor, redis_server: Redis
) -> None:
    configure(acceptor, GET_RULE)
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)

    def body() -> Any:
        cache.set("k", "v")
        value = cache.get("k")
        cache.set("k2", "v2")
        return value

    # the call itself is untouched: the GET still answers
    result, entry, exits = in_lambda(acceptor, body, expected_spans=3)
    assert result == b"v"
    assert redis_commands(exits) == ["SET", "SET"]
    assert all(s["p"] == entry["s"] for s in exits)
    cache.close()


def test_without_the_rule_the_gets_are_sent(
    patched: None, acceptor: Acceptor, redis_server: Redis
) -> None:
    configure(acceptor, {})
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    _, _, exits = in_lambda(acceptor, lambda: cache.get("k"), expected_spans=2)
    assert redis_commands(exits) == ["GET"]
    cache.close()


def make_app(cache: redis.Redis) -> flask.Flask:
    app = flask.Flask("shop")

    @app.route("/health")
    def health() -> Any:
        cache.ping()
        return "ok"

    @app.route("/orders")
    def orders() -> Any:
        cache.get("orders")
        return {"orders": []}

    return app


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def test_a_health_check_route_excluded_by_its_path_sends_nothing(
    patched: None, acceptor: Acceptor, redis_server: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "AWS_EXECUTION_ENV"):
        monkeypatch.delenv(name, raising=False)
    client = configure(acceptor, HEALTH_RULE)
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    app = make_app(cache)
    server = make_server("127.0.0.1", 0, WSGIMiddleware(app.wsgi_app), handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for _ in range(3):
            assert get(server.server_port, "/health") == 200
        assert get(server.server_port, "/orders") == 200
        spans = acceptor.wait_for_spans(2)
        client.flush()
    finally:
        server.shutdown()
        server.server_close()
        cache.close()
    spans = acceptor.spans()
    entries = [s for s in spans if s["k"] == 1]
    # the health checks: neither their entries nor their redis PINGs
    assert [s["data"]["http"]["path"] for s in entries] == ["/orders"]
    assert redis_commands(spans) == ["GET"]


def test_an_excluded_exit_tells_the_service_called_not_to_trace(
    patched: None, acceptor: Acceptor, downstream: Downstream
) -> None:
    configure(
        acceptor, {"INSTANA_TRACING_FILTER_EXCLUDE_PROBES_ATTRIBUTES": "http.url;/probe;endswith"}
    )
    with instana.entry_span("job"):
        requests.get(f"{downstream.url}/probe", timeout=5)
        requests.get(f"{downstream.url}/orders", timeout=5)
    spans = acceptor.wait_for_spans(2)
    urls = [s["data"]["http"]["url"] for s in spans if s["k"] == 2]
    assert urls == [f"{downstream.url}/orders"]
    probe, orders = downstream.requests
    assert probe["headers"]["x-instana-l"].startswith("0")
    assert orders["headers"]["x-instana-l"] == "1"


def test_without_suppression_an_excluded_entry_goes_and_its_exits_stay(
    patched: None, acceptor: Acceptor, redis_server: Redis
) -> None:
    configure(
        acceptor,
        {
            "INSTANA_TRACING_FILTER_EXCLUDE_JOBS_ATTRIBUTES": "type;job|kind;entry",
            "INSTANA_TRACING_FILTER_EXCLUDE_JOBS_SUPPRESSION": "false",
        },
    )
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    with instana.entry_span("job"):
        cache.set("a", "b")
    spans = acceptor.wait_for_spans(1)
    assert [s["n"] for s in spans] == ["redis"]
    cache.close()


def test_an_include_rule_keeps_what_an_exclude_rule_would_drop(
    patched: None, acceptor: Acceptor, redis_server: Redis
) -> None:
    configure(
        acceptor,
        {
            "INSTANA_TRACING_FILTER_EXCLUDE_ALLREDIS_ATTRIBUTES": "category;databases",
            "INSTANA_TRACING_FILTER_INCLUDE_WRITES_ATTRIBUTES": "redis.command;SET,DEL",
        },
    )
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    _, _, exits = in_lambda(
        acceptor, lambda: (cache.set("a", "b"), cache.get("a"), cache.delete("a")), 3
    )
    assert redis_commands(exits) == ["SET", "DEL"]
    cache.close()


CONFIG_FILE = """\
# Instana configuration (the official sensor's file)
tracing:
  filter:
    exclude:
      - name: "Cache reads"
        attributes:
          - key: "type"
            values: ["redis"]
          - key: "redis.command"
            values:
              - GET
              - MGET
            match_type: strict
    include:
      - name: "never matches"
        attributes:
          - key: redis.command
            values: ['NOTHING']
"""


def test_the_config_file_is_read_only_when_its_variable_is_set(
    patched: None,
    acceptor: Acceptor,
    redis_server: Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "instana.yaml"
    path.write_text(CONFIG_FILE)
    # without a YAML library: the subset reader
    monkeypatch.setitem(sys.modules, "yaml", None)
    configure(acceptor, {"INSTANA_CONFIG_PATH": str(path)})
    cache = redis.Redis(host=redis_server.host, port=redis_server.port)
    _, _, exits = in_lambda(acceptor, lambda: (cache.set("a", "b"), cache.get("a")), 2)
    assert redis_commands(exits) == ["SET"]
    cache.close()
    config, warnings = resolve_quietly(None, {})
    assert config.span_filter is None and warnings == []


def test_the_variables_win_over_the_file_and_the_file_over_code(tmp_path: Path) -> None:
    path = tmp_path / "instana.yaml"
    path.write_text(CONFIG_FILE)
    code = {"exclude": [{"name": "code", "attributes": [{"key": "type", "values": ["log"]}]}]}
    options = instana.Options(span_filters=code)
    config, _ = resolve_quietly(options, {"INSTANA_CONFIG_PATH": str(path), **GET_RULE})
    assert config.span_filter is not None
    assert [r.name for r in config.span_filter.rules()] == ["CACHEGETS"]
    config, _ = resolve_quietly(options, {"INSTANA_CONFIG_PATH": str(path)})
    assert config.span_filter is not None
    assert [r.name for r in config.span_filter.rules()] == ["never matches", "Cache reads"]
    config, _ = resolve_quietly(options, {})
    assert config.span_filter is not None
    assert [r.name for r in config.span_filter.rules()] == ["code"]


def test_the_subset_reader_agrees_with_pyyaml() -> None:
    yaml = pytest.importorskip("yaml")
    assert loads(CONFIG_FILE) == yaml.safe_load(CONFIG_FILE)
    odd = "a: 'it''s'\nb: \"q\\\"x # y\"  # comment\nc: [1, -2, on, ~]\nd:\n- x\n- y: 1\n  z: 2\n"
    assert loads(odd) == yaml.safe_load(odd)


@pytest.mark.parametrize(
    "text",
    ["a: &anchor 1\n", "a: |\n  text\n", "a: {b: 1}\n", "a:\n\t- b\n", "a: 1\n---\nb: 2\n"],
)
def test_the_subset_reader_refuses_what_it_does_not_support(text: str) -> None:
    with pytest.raises(YamlError, match="line"):
        loads(text)


def test_the_doctor_shows_the_rules_understood_and_flags_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # the subset reader
    path = tmp_path / "broken.yaml"
    path.write_text("tracing:\n  filter:\n    exclude:\n      - name: x\n        attributes: &a\n")
    environ = {
        "INSTANA_ENDPOINT_URL": "http://127.0.0.1:9",
        "INSTANA_AGENT_KEY": "k",
        **GET_RULE,
        "INSTANA_TRACING_FILTER_EXCLUDE_TYPO_ATTRIBUTES": "redis.command;GET;fuzzy",
        "INSTANA_TRACING_FILTER_DROP_X_ATTRIBUTES": "type;redis",
    }
    section, _config, _endpoint = doctor.check_settings(environ, "generic")
    texts = [(f.level, f.text) for f in section.findings]
    understood = [t for level, t in texts if level == doctor.OK and "span filter" in t]
    assert understood == [
        "span filter from environment: exclude 'CACHEGETS': type;redis;strict and "
        "redis.command;GET;strict (with downstream suppression)"
    ]
    flagged = [t for level, t in texts if level == doctor.WARN and "Span filter" in t]
    assert any("match_type 'fuzzy'" in t and "TYPO" in t for t in flagged), flagged
    assert any("INSTANA_TRACING_FILTER_DROP_X_ATTRIBUTES" in t for t in flagged), flagged
    # members of the family are not called unknown variables
    assert not any("is not read by" in t for _level, t in texts)
    # a file outside the subset is named with its line
    section, _config, _endpoint = doctor.check_settings(
        {"INSTANA_CONFIG_PATH": str(path)}, "generic"
    )
    assert any("line 5" in f.text and f.level == doctor.WARN for f in section.findings), [
        f.text for f in section.findings
    ]
