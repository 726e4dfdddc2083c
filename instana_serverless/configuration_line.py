"""The configuration log line: what this process does, said once at its first flush.

Imported only when that line is shown (our logger at INFO or lower), so its text and the
platform names stay off the cold path under the default level.
"""

from __future__ import annotations

import sys

from . import __version__, platform
from .client import described
from .sending import current_rule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .client import Client

# How spans leave, where no platform module registered a description of its own.
DEFAULT_SENDING = {
    "gcp.cloud_run": "flush before return: a request's spans leave before its response is "
    "sent (Cloud Run may throttle the CPU afterwards)",
    "azure.functions": "flush before return: an invocation's spans leave before it returns",
    "aws.lambda": "flush before return: an invocation's spans leave before it returns",
    "": "flush before return: an entry span's spans leave when it ends",
}


def configuration_line(client: Client) -> str:
    detected = platform.detect()
    own = described("sending")
    sending = own or DEFAULT_SENDING.get(detected, DEFAULT_SENDING[""])
    if not own and not current_rule().blocks(client):
        sending = (
            "after the response: a sender thread sends what is buffered, the response "
            "does not wait (the CPU stays allocated)"
        )
    instrumentations = described("instrumentations")
    python = ".".join(map(str, sys.version_info[:3]))
    config = client.config
    service = f", service {config.service_name!r}" if config.service_name else ""
    return (
        f"instana-serverless {__version__} (Python {python}) on {platform.NAMES[detected]}"
        f"{service}: endpoint {client.reporter.target}, timeout "
        f"{round(config.timeout_s * 1000)} ms; sending: {sending}; instrumentations: "
        f"{instrumentations or 'none requested (no wrapper, no instrument())'}"
        + ("" if client.tracing else "; tracing is switched off (INSTANA_TRACING_DISABLE)")
    )


__all__ = ["DEFAULT_SENDING", "configuration_line"]
