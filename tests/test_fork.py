"""A forked worker (gunicorn, uwsgi, multiprocessing) reports on a connection of its own."""

from __future__ import annotations

import os
import sys

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.invocation import Invocation
from tests.conftest import span_name

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _child_flushes_one_span_then_exits() -> None:
    # Only os._exit may leave a forked pytest process; any failure shows as the exit code.
    code = 1
    try:
        with instana.entry_span("child.work"):
            pass
        code = 0 if instana.flush() else 2
    finally:
        os._exit(code)


def test_child_uses_its_own_connection_and_not_the_parents_spans(
    client: Client, acceptor: Acceptor
) -> None:
    with instana.entry_span("parent.before-fork"):
        pass
    assert client.flush() is True  # the parent now holds a kept-alive connection
    pending = client.start_entry("parent.pending")
    with Invocation(client, pending, flush=False), instana.span("parent.unsent"):
        pass
    assert len(client.buffer) == 2  # buffered in the parent when the child is forked

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child_flushes_one_span_then_exits()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    assert client.flush() is True  # the parent's connection still works after the child's
    names = sorted(span_name(span) for span in acceptor.wait_for_spans(4))
    # Each span exactly once: the child did not resend what the parent had buffered.
    assert names == ["child.work", "parent.before-fork", "parent.pending", "parent.unsent"]
    assert len(acceptor.spans()) == 4
