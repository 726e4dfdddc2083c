"""Entry spans that instrumentations open: one consumed message, one served call.

Kafka and RabbitMQ consumers and RPC servers share this, so that each of them continues a trace,
nests and sends the same way:

- the context the message or call carries (its headers or metadata) is continued;
- with no context of its own, an entry opened inside other traced work (a Lambda handler that
  polls a queue) joins that trace under the active span, instead of starting a trace nobody
  can find;
- the span is active while the user's code handles the message, ends once however that ends,
  and is sent then, unless it ran inside other traced work, whose own end sends it. It is
  sent the way the platform sends after an HTTP request (docs/CONTRACT.md §3, the middleware's
  ``request_hook``): on Cloud Run a flush with the instance's metrics when due, on Fargate
  nothing inline (the background reporter sends every second), elsewhere a flush.
"""

from __future__ import annotations

from ..client import get_client
from ..invocation import Invocation
from ..propagation import extract
from ..span import ENTRY
from ..tracer import current_span, start_child
from ._common import tracer_bug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

    from ..client import Client
    from .registry import Entry

# The platform's send rule, found on the first entry that ends (one per process).
_sender: List[Callable[[Client], object]] = []


def send(client: Client) -> None:
    """Send what the ended entry left in the buffer, as this platform sends after a request."""
    if not _sender:
        try:
            from ..middleware import request_hook  # the platforms' send rule, in one place

            hook, _blocking = request_hook()
        except Exception:  # never our failure in the user's way: a plain flush will do
            tracer_bug("finding the platform's send rule")
            client.flush()
            return
        _sender.append(hook if hook is not None else _no_send)
    _sender[0](client)


def _no_send(client: Client) -> None:
    return None


class Served(Invocation):
    """An Invocation sent by ``send`` (the platform's rule) instead of a plain flush."""

    __slots__ = ()

    def end(self, exc: Optional[BaseException] = None) -> None:
        sends, self.flush = self.flush, False
        if not self._unended:
            return
        super().end(exc)
        if sends and self.span.recording:
            send(self.client)


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
    return Served(client, span, flush=outer is None)
