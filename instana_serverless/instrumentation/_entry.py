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

Consumers that hand messages over by returning them (``poll()``, iteration) cannot wrap the
user's handling in a ``with``: they ``hold`` the entries they opened, and ``release_held`` ends
them at the consumer's next call (or its close). A held entry opened inside other traced work
is also ended just before that work's own span ends, so it leaves in the same send.
"""

from __future__ import annotations

from contextvars import ContextVar

from ..client import get_client
from ..invocation import Invocation
from ..propagation import extract
from ..sending import work_done
from ..span import ENTRY
from ..tracer import activate, current_span, restore, start_child
from ._common import tracer_bug

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextvars import Token
    from typing import Any, Dict, List, Mapping, Optional, Tuple

    from ..span import FinishHook, Span
    from .registry import Entry


def enabled(entry: Entry) -> bool:
    """Whether ``entry``'s consumer or server opens entries now: tracing on and none of its
    names, aliases or category disabled (checked per message, so a later ``configure``
    counts)."""
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


class _Held:
    """Entries a consumer opened and left open for the user's code, until its next call."""

    __slots__ = ("active", "invocations", "token", "unreleased")

    def __init__(self, invocations: List[Invocation], active: Optional[Span]) -> None:
        self.invocations = invocations
        self.active = active
        self.token: Optional[Token[Optional[Span]]] = None
        # list.pop is atomic: exactly one release does the work
        self.unreleased = [True]


_held: ContextVar[Optional[_Held]] = ContextVar("instana_serverless_held_entries", default=None)


def hold(invocations: List[Invocation], *, active: bool) -> None:
    """Keep ``invocations`` (opened by ``open_entry``, not entered) open until
    ``release_held()``; with ``active``, the only one of them becomes the active span, so the
    exits the user's code makes for its message are its children. Entries held before in this
    thread or task are released first."""
    release_held()
    if not invocations:
        return
    outer = current_span()
    held = _Held(invocations, invocations[0].span if active else None)
    if held.active is not None:
        held.token = activate(held.active)
    _held.set(held)
    if outer is not None and outer.kind == ENTRY and not outer.finished:
        helds = getattr(outer._on_finish, "instana_held", None)
        if helds is None or getattr(outer._on_finish, "instana_outer", None) is not outer:
            outer._on_finish = _releasing_first(outer, outer._on_finish)
            helds = outer._on_finish.instana_held  # type: ignore[attr-defined]
        # once per outer span, however many records it polls: only the unreleased are kept
        helds[:] = [h for h in helds if h.unreleased]
        helds.append(held)


def _releasing_first(outer: Span, original: Optional[FinishHook]) -> FinishHook:
    """``outer``'s finish hook that first ends what is still held inside it (spans created under
    ``outer`` from now on inherit the hook: for them it is the original)."""
    helds: List[_Held] = []

    def hook(span: Span) -> None:
        if span is outer:
            for held in helds:
                try:
                    _release(held, flush=False)
                except Exception:
                    tracer_bug("ending held entries")
        if original is not None:
            original(span)

    hook.instana_held = helds  # type: ignore[attr-defined]
    hook.instana_outer = outer  # type: ignore[attr-defined]
    return hook


def release_held() -> None:
    """End the entries this thread or task holds (none: nothing to do). Never raises."""
    held = _held.get()
    if held is None:
        return
    _held.set(None)
    _release(held, flush=True)


def _release(held: _Held, *, flush: bool) -> None:
    try:
        held.unreleased.pop()
    except IndexError:
        return
    if held.token is not None and current_span() is held.active:
        restore(held.token)
    send = flush and any(
        invocation.flush and invocation.span.recording for invocation in held.invocations
    )
    for invocation in held.invocations:
        invocation.flush = False  # one send for a whole batch, below
        invocation.end()
    if send:
        work_done(held.invocations[0].client)
