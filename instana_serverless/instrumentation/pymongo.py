"""Exit spans ``mongo`` for pymongo (``MongoClient`` and ``AsyncMongoClient``), started and
ended on pymongo's own command monitoring events.

pymongo publishes ``started`` before a command goes to the server and ``succeeded`` or
``failed`` when its reply is in, in the thread (or asyncio task) that runs the operation, so
the span has the caller's trace as parent and measures exactly the command. One command is one
span: ``find`` + ``getMore`` are two, as the server sees them. Data, as the Instana sensors send
it: ``mongo.{service (host:port), namespace (db.collection), command, filter, json, error}``;
``filter`` is the query document and ``json`` the documents a command carries (inserted
documents, updates, deletes, an aggregation pipeline), as JSON, values whose key matches the
secrets setting masked, cut at ``MAX_JSON`` characters.

The listener is registered with ``pymongo.monitoring.register``: pymongo copies global
listeners into each client **when the client is created**, so a client created before
``instrument()`` (the platform decorators call it when they wrap the handler) is not traced —
create clients after ``import instana_serverless`` and ``instana.instrument()``, or after the
decorated handler. ``uninstrument()`` removes the listener for new clients and silences it in
the clients that already have it (it is one object, reactivated by the next ``instrument()``).
"""

from __future__ import annotations

import json
import sys

from .. import log
from ..secrets import MASK
from ..span import EXIT
from . import _wrap
from ._common import config, tracer_bug
from ._patches import Install

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any, Callable, Dict, Tuple

    from ..span import Span
    from .registry import Entry

MAX_JSON = 1000
MAX_DEPTH = 8
_MAX_ITEMS = 50

# Where each command keeps the documents it carries (as the Instana sensors read them).
_DOCUMENTS = {
    "insert": "documents",
    "update": "updates",
    "delete": "deletes",
    "aggregate": "pipeline",
    "findAndModify": "update",
}
# Server error codes pymongo raises as a subclass of OperationFailure.
_ERROR_TYPES = {
    11000: "DuplicateKeyError",
    11001: "DuplicateKeyError",
    12582: "DuplicateKeyError",
    50: "ExecutionTimeout",
    43: "CursorNotFound",
}


def _masked(value: Any, is_secret: Callable[[str], bool], depth: int) -> Any:
    """A copy of a BSON document (nested dicts/lists) with secret keys' values masked."""
    if depth > MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        out = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= _MAX_ITEMS:
                out["..."] = "..."
                break
            text = str(key)
            out[text] = MASK if is_secret(text) else _masked(item, is_secret, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_masked(item, is_secret, depth + 1) for item in value[:_MAX_ITEMS]]
    return value


def _extended(value: Any) -> Any:
    """JSON for what ``json`` cannot encode (ObjectId, datetime, Decimal128, bytes…)."""
    name = type(value).__name__
    if name == "ObjectId":
        return {"$oid": str(value)}
    if name == "datetime":
        return {"$date": value.isoformat()}
    return str(value)


def _json(document: Any) -> str:
    masked = _masked(document, config().secrets.is_secret, 0)
    # bson's own json_util writes MongoDB extended JSON; pymongo has imported it already.
    json_util = sys.modules.get("bson.json_util")
    if json_util is not None:
        try:
            return str(json_util.dumps(masked))[:MAX_JSON]
        except Exception:  # an odd value: the plain encoder below will do
            pass
    return json.dumps(masked, default=_extended)[:MAX_JSON]


def describe(event: Any) -> Dict[str, Any]:
    """``data.mongo`` of a CommandStartedEvent."""
    name = event.command_name
    command = event.command
    database = event.database_name
    mongo: Dict[str, Any] = {"command": name}
    address = event.connection_id
    if isinstance(address, tuple) and len(address) == 2:
        mongo["service"] = f"{address[0]}:{address[1]}"
    elif address:
        mongo["service"] = str(address)
    collection = command.get(name)
    mongo["namespace"] = f"{database}.{collection}" if isinstance(collection, str) else database
    for key in ("filter", "query"):
        if key in command:
            mongo["filter"] = _json(command[key])
            break
    carried: Any = None
    location = _DOCUMENTS.get(name)
    if location is not None:
        carried = command.get(location)
    elif name.lower() == "mapreduce":
        carried = {"map": command.get("map"), "reduce": command.get("reduce")}
    if carried is not None:
        mongo["json"] = _json(carried)
    return mongo


def failure_message(failure: Any) -> str:
    """What the failed event's document says, named like the exception pymongo raises."""
    if not isinstance(failure, dict):
        return str(failure)
    message = str(failure.get("errmsg") or failure.get("$err") or "command failed")
    kind = failure.get("errtype")
    if kind is None:
        code = failure.get("code")
        kind = (
            _ERROR_TYPES.get(code, "OperationFailure") if type(code) is int else "OperationFailure"
        )
        if code is not None:
            message = f"{message} (code {code})"
    return f"{kind}: {message}"


class _Spans:
    """The one listener's state: whether it is on, and the open span of each command."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.active = True
        self.open: Dict[Tuple[Any, int], Span] = {}

    def started(self, event: Any) -> None:
        if not self.active:
            return
        try:
            parent = _wrap.parent_for(self.entry)
            if parent is None:
                return
            data = {"mongo": describe(event)} if parent.recording else None
            # through _wrap, like every exit: one place to start spans (and to break in tests)
            span = _wrap.start_child(  # type: ignore[attr-defined]
                "mongo", EXIT, data=data, error_path=("mongo",), parent=parent
            )
            if span is not None:
                self.open[(event.connection_id, event.request_id)] = span
        except Exception:
            tracer_bug("starting a mongo span")

    def ended(self, event: Any, failure: Any) -> None:
        if not self.open:
            return
        try:
            span = self.open.pop((event.connection_id, event.request_id), None)
            if span is None:
                return
            if failure is not None and span.recording:
                span.mark_error(failure_message(failure))
        except Exception:
            tracer_bug("ending a mongo span")
            return
        _wrap.close(span, config(), "mongo")


def _listener(entry: Entry, monitoring: ModuleType) -> Any:
    spans = _Spans(entry)

    class InstanaCommandListener(monitoring.CommandListener):  # type: ignore[misc,name-defined]
        """Exit spans for pymongo commands (instana_serverless)."""

        def started(self, event: Any) -> None:
            spans.started(event)

        def succeeded(self, event: Any) -> None:
            spans.ended(event, None)

        def failed(self, event: Any) -> None:
            spans.ended(event, event.failure)

    listener = InstanaCommandListener()
    listener.instana_spans = spans
    return listener


# One listener per pymongo.monitoring module: clients keep the listener they were created
# with, so the same object is silenced on uninstrument and switched on again on instrument.
_LISTENER_ATTR = "_instana_serverless_listener"


def install(entry: Entry, monitoring: ModuleType) -> Any:
    listener = getattr(monitoring, _LISTENER_ATTR, None)
    if listener is None:
        listener = _listener(entry, monitoring)
        setattr(monitoring, _LISTENER_ATTR, listener)
        if hasattr(sys.modules.get("pymongo"), "MongoClient"):
            # pymongo was imported before instrument() (on a first import the hook runs
            # before pymongo binds MongoClient): clients made until now cannot be traced.
            log.logger().info(
                "instana_serverless: pymongo clients created before instrument() are not "
                "traced; create them after it (or after the decorated handler)"
            )
    registered = monitoring._LISTENERS.command_listeners
    if any(item is listener for item in registered):
        return None
    listener.instana_spans.entry = entry
    listener.instana_spans.active = True
    monitoring.register(listener)
    return listener


def uninstall(monitoring: ModuleType, listener: Any) -> None:
    listener.instana_spans.active = False
    registered = monitoring._LISTENERS.command_listeners
    registered[:] = [item for item in registered if item is not listener]


PATCHES = {"pymongo.monitoring": (Install(install, uninstall),)}
