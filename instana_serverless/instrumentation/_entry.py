"""Entry spans that instrumentations open: one consumed message, one served call.

Kafka and RabbitMQ consumers and RPC servers share this, so that each of them continues a trace,
nests and sends the same way:

- the context the message or call carries (its headers or metadata) is continued;
- with no context of its own, an entry opened inside other traced work (a Lambda handler that
  polls a queue) joins that trace under the active span, instead of starting a trace nobody
  can find;
- the span is active while the user's code handles the message, ends once however that ends,
  and is sent then by the platform's send rule (``sending``: before the result goes back, so
  a gRPC server on Cloud Run with request-based billing sends while the call is in flight),
  unless it ran inside other traced work, whose own end sends it.
"""

from __future__ import annotations

from ..client import get_client
from ..invocation import Invocation
from ..propagation import extract
from ..span import ENTRY
from ..tracer import current_span, start_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional, Tuple

    from .registry import Entry


def enabled(entry: Entry) -> bool:
    """Whether a served call or consumed message of registry row ``entry`` gets an entry span
    now: tracing on and none of the row's names, aliases or category disabled. Checked per
    unit of work, like the exits' guard, so a later ``configure`` counts."""
    client = get_client()
    return client.tracing and entry.keys.isdisjoint(client.config.disabled_instrumentations)


def open_entry(
    name: str,
    carrier: Optional[Mapping[str, Any]],
    *,
    data: Optional[Dict[str, Any]] = None,
    error_path: Tuple[str, ...] = (),
) -> Invocation:
    """The scope of one unit of work (``with open_entry(...) as span: handle(message)``).

    ``carrier`` holds the incoming trace headers with lower-case names (``x-instana-t``,
    ``traceparent``…), values as text. Never raises for bad context: it is ignored.
    """
    client = get_client()
    incoming = extract(carrier, w3c_correlation=client.w3c_correlation) if carrier else None
    outer = current_span()
    if outer is not None and (
        incoming is None or not (incoming.continues_trace or incoming.suppressed)
    ):
        joined = start_child(name, ENTRY, data=data, error_path=error_path, parent=outer)
        if joined is not None:
            return Invocation(client, joined, flush=False)
    span = client.start_entry(name, incoming, data=data, error_path=error_path)
    return Invocation(client, span, flush=outer is None)
