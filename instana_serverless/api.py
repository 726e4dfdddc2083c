"""The platform-independent user API: custom spans, a generic entry span, flush."""

from __future__ import annotations

from types import TracebackType

from .client import get_client
from .invocation import Invocation
from .propagation import extract
from .span import INTERMEDIATE, REGISTERED_ENTRY_SPANS, Span
from .tracer import active_span, start_child

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Type

_SDK_ERROR_PATH = ("sdk", "custom", "tags")


class _Scoped:
    """Ends (and for entries flushes) the span ``__enter__`` opened, however the block ends.

    One object may be entered by several threads or tasks at once (``job = entry_span("job")``
    at module level, ``with job:`` in each worker): each block keeps its own scope, and the
    exit ends the one its own thread or task entered, the span active there, never another's.
    """

    # Set by the subclasses' ``__init__``; list.append/remove are atomic: no lock needed.
    _scopes: List[Invocation]

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        scopes = self._scopes
        assert scopes
        mine = scopes[-1]
        if mine.span is not active_span():  # nested or concurrent blocks of this object
            mine = _own_scope(scopes)
        # contextlib.suppress would add an import to the cold path for one line.
        try:  # noqa: SIM105
            scopes.remove(mine)
        except ValueError:  # another thread took it meanwhile: end it anyway, once
            pass
        mine.__exit__(exc_type, exc, tb)


def _own_scope(scopes: List[Invocation]) -> Invocation:
    """The scope whose span is active here (the newest such); the newest of all when the
    block changed the active span without restoring it."""
    active = active_span()
    for scope in reversed(scopes):
        if scope.span is active:
            return scope
    return scopes[-1]


class span(_Scoped):
    """A custom (SDK) span: intermediate inside a traced call, otherwise an entry of its own.

    ``tags`` end up in ``data.sdk.custom.tags``; an exception leaving the block is recorded
    there and re-raised. A stand-alone entry is buffered for the next flush.
    """

    def __init__(self, name: str, *, tags: Optional[Mapping[str, Any]] = None) -> None:
        self.name = name
        self.tags = dict(tags) if tags else {}
        self._scopes = []

    def _sdk_data(self, kind: str) -> Dict[str, Any]:
        return {"sdk": {"name": self.name, "type": kind, "custom": {"tags": self.tags}}}

    def __enter__(self) -> Span:
        client = get_client()
        opened: Optional[Span] = None
        if active_span() is not None:
            opened = start_child(
                "sdk", INTERMEDIATE, data=self._sdk_data("intermediate"), error_path=_SDK_ERROR_PATH
            )
        if opened is None:
            opened = client.start_entry(
                "sdk", data=self._sdk_data("entry"), error_path=_SDK_ERROR_PATH
            )
        scope = Invocation(client, opened, flush=False)
        self._scopes.append(scope)
        return scope.__enter__()


class entry_span(_Scoped):
    """A generic entry span: continues the trace in ``headers`` and flushes when it ends.

    For work no platform wrapper covers (a CLI job, a custom server). The flush runs after
    the span has ended, so the span leaves in that flush.

    A custom name is sent in the SDK form the backend knows for custom spans: ``n: "sdk"``,
    ``data.sdk.{name, type: "entry", custom.tags}`` with ``data`` as the tags. One of Instana's
    registered entry span names (``span.REGISTERED_ENTRY_SPANS``: ``wsgi``, ``rabbitmq``, ...)
    is sent as that span, ``data`` as given.
    """

    def __init__(
        self,
        name: str,
        *,
        headers: Optional[Mapping[str, Any]] = None,
        data: Optional[Dict[str, Any]] = None,
        flush: bool = True,
    ) -> None:
        self.name = name
        self.headers = headers
        self.data = data
        self.flush = flush
        self._scopes = []

    def __enter__(self) -> Span:
        client = get_client()
        headers = self.headers
        incoming = extract(headers, w3c_correlation=client.w3c_correlation) if headers else None
        name = self.name
        section = REGISTERED_ENTRY_SPANS.get(name)
        if section is None:
            tags = dict(self.data) if self.data else {}
            data = {"sdk": {"name": name, "type": "entry", "custom": {"tags": tags}}}
            opened = client.start_entry("sdk", incoming, data=data, error_path=_SDK_ERROR_PATH)
        else:
            opened = client.start_entry(name, incoming, data=self.data, error_path=(section,))
        scope = Invocation(client, opened, flush=self.flush)
        self._scopes.append(scope)
        return scope.__enter__()


def flush() -> bool:
    """Send buffered spans and metrics now; never raises. True when all were delivered."""
    return get_client().flush()
