"""When the spans of a finished unit of work leave: the one send rule (docs/CONTRACT.md §3).

A unit of work is an HTTP request, a function call, a consumed message or a served RPC. Whoever
opened its entry span calls ``work_done(client)`` once the span has ended, at the last moment
the unit of work is still in flight: for an HTTP response before its last byte is released
(the WSGI/ASGI middleware holds it back), for a function before its result is handed back.
What happens then is the platform's rule, installed with ``set_rule`` (platforms → core):

- ``SendRule`` (the default, and Cloud Run with request-based billing): send now and return
  when the backend has answered (or ``INSTANA_TIMEOUT`` ran out). A platform that freezes or
  throttles the process as soon as nothing is in flight cannot hold a unit of work's spans
  back until the next one, because the unit of work is not over before they left. Cost: one
  backend round trip per unit of work.
- ``BackgroundSender`` (``background_sender``) behind a platform rule whose ``blocks`` is
  false (Cloud Run with CPU always allocated): wake a sender thread and return at once; the
  thread sends what is buffered, so a burst of requests shares one send. The response costs
  nothing measurable.

The rule is process-wide (one platform per process). ``blocks`` tells async callers whether to
move the call off their event loop.
"""

from __future__ import annotations

from . import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

    from .client import Client


class SendRule:
    """Send now, before the unit of work completes (the default on every platform).

    ``invocation`` applies this default itself, without importing this module, while no one
    has imported it (and so installed no other rule): keep the two alike."""

    def blocks(self, client: Client) -> bool:
        return True

    def send(self, client: Client) -> None:
        client.flush()


DEFAULT = SendRule()
_rule: SendRule = DEFAULT


def set_rule(rule: Optional[SendRule]) -> None:
    """Install the platform's rule (None: back to the default)."""
    global _rule
    _rule = DEFAULT if rule is None else rule


def current_rule() -> SendRule:
    return _rule


def work_done(client: Client) -> None:
    """The unit of work's entry span has ended: send as the rule says. Never raises."""
    try:
        _rule.send(client)
    except Exception as exc:
        log.logger().debug("sending after the unit of work failed: %r", exc)


async def work_done_async(client: Client) -> None:
    """``work_done`` for a coroutine: a blocking send runs off the event loop (other requests
    on the loop keep going); still awaited, so the caller's response waits for it."""
    rule = _rule
    try:
        if not rule.blocks(client):
            rule.send(client)
            return
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, rule.send, client)
    except Exception as exc:
        log.logger().debug("sending after the unit of work failed: %r", exc)


def __getattr__(name: str) -> Any:
    # ``BackgroundSender`` lives in ``background_sender``, imported only by a platform that
    # sends after the response (Cloud Run with the CPU always allocated); still reachable here.
    if name in ("BackgroundSender", "LINGER_S"):
        from . import background_sender

        return getattr(background_sender, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT",
    "SendRule",
    "current_rule",
    "set_rule",
    "work_done",
    "work_done_async",
]
