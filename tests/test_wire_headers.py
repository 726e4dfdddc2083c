"""The headers of every bundle POST as they leave: X-Instana-Time, User-Agent, and host ids
that cannot break the request or leak the agent key (docs/CONTRACT.md §3)."""

from __future__ import annotations

import logging
import sys
import time
from typing import List

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client

from .conftest import AGENT_KEY, span_name


def test_every_post_carries_time_and_user_agent(client: Client, acceptor: Acceptor) -> None:
    before = int(time.time() * 1000)
    with instana.entry_span("one"):
        pass
    with instana.entry_span("two"):
        pass
    after = int(time.time() * 1000)
    python = ".".join(map(str, sys.version_info[:3]))
    assert len(acceptor.requests) == 2
    for request in acceptor.requests:
        headers = request["headers"]
        assert headers["user-agent"] == f"instana-serverless/{instana.__version__} python/{python}"
        assert before <= int(headers["x-instana-time"]) <= after


@pytest.mark.parametrize(
    "host_id",
    [
        "arn:aws:lambda:eu-west-1:123456789012:function:f\u2028",  # not Latin-1
        "arn:aws:lambda:eu-west-1:123456789012:function:f\r\nX-Injected: yes",
        "arn:aws:lambda:eu-west-1:123456789012:function:\u00fcber",
    ],
)
def test_a_bad_host_id_never_stops_delivery_nor_leaks_the_key(
    acceptor: Acceptor, all_logs: List[logging.LogRecord], host_id: str
) -> None:
    logger = logging.getLogger("instana_serverless")
    previous = logger.level
    client = instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY, debug=True), environ={}
    )
    try:
        client.set_host_id(host_id)
        with instana.entry_span("job", flush=False):
            pass
        assert client.flush() is True
    finally:
        instana.configure(environ={})
        logger.setLevel(previous)
    (request,) = acceptor.requests
    assert "x-injected" not in request["headers"]
    assert request["headers"]["x-instana-host"].startswith(
        "arn:aws:lambda:eu-west-1:123456789012:function:"
    )
    assert [span_name(s) for s in acceptor.spans()] == ["job"]
    for record in all_logs:
        assert AGENT_KEY not in record.getMessage() and AGENT_KEY not in repr(record.args)
