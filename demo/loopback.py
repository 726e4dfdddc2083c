"""The loopback HTTP services live in the package (``instana_serverless.local.loopback``), where
``instana-serverless run-lambda`` uses them; the demo, tests and benchmarks import them here."""

from instana_serverless.local.loopback import (
    Answer,
    JsonService,
    LoopbackServer,
    Reply,
    Request,
    Respond,
    json_reply,
)

__all__ = ["Answer", "JsonService", "LoopbackServer", "Reply", "Request", "Respond", "json_reply"]
