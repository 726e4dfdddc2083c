"""GraphQL operations run by graphql-core 3, the executor under graphene, strawberry and ariadne.

Every operation goes through ``ExecutionContext.execute_operation`` whichever library built the
schema and whichever server received the request, so one method covers all three, sync and
async. As in the Instana Node.js collector, the entry span that carries the operation becomes
the ``graphql.server`` entry in place (its http data kept, exits already made stay its
children) with ``data.graphql.{operationType, operationName, fields, args}``; with no entry
active, a ``graphql.server`` entry of its own is opened. The platform entries that identify a
function to the backend (``aws.lambda.entry``, ``azf``) keep their name and get the same
``data.graphql``. ``args`` names the arguments of each root field, never their values, so no
secret can leave through it; errors the resolvers raised count in ``ec`` and their messages
go to ``data.graphql.errors``. Subscriptions pass through untraced.
"""

from __future__ import annotations

from ..client import get_client
from ..span import ENTRY, MAX_ERROR_LENGTH
from ..tracer import current_span
from ._common import tracer_bug
from ._entry import open_entry
from ._patches import Custom

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional

    from ..invocation import Invocation
    from ..span import Span
    from .registry import Entry

SPAN_NAME = "graphql.server"
ERROR_PATH = ("graphql",)
# entries the backend knows a function by: renaming them would detach the call from it
_KEEP_NAME = frozenset(("aws.lambda.entry", "azf"))
_TRACED_OPERATIONS = frozenset(("query", "mutation"))
# bounds on what one operation adds to its span
MAX_ROOT_FIELDS = 20
MAX_SUBFIELDS = 50
MAX_NAME_LENGTH = 100


def _names(selections: Any, limit: int) -> List[str]:
    """The names of the plain fields among ``selections`` (fragments are not expanded)."""
    names: List[str] = []
    for selection in selections or ():
        if selection.kind == "field":
            names.append(str(selection.name.value)[:MAX_NAME_LENGTH])
            if len(names) >= limit:
                break
    return names


def describe(operation: Any) -> Dict[str, Any]:
    """``data.graphql`` for an ``OperationDefinitionNode``: root fields with their sub-fields and
    argument names."""
    fields: Dict[str, List[str]] = {}
    args: Dict[str, List[str]] = {}
    for selection in operation.selection_set.selections:
        if selection.kind != "field":
            continue
        name = str(selection.name.value)[:MAX_NAME_LENGTH]
        inner = selection.selection_set
        fields[name] = _names(inner.selections, MAX_SUBFIELDS) if inner is not None else []
        if selection.arguments:
            args[name] = [str(a.name.value)[:MAX_NAME_LENGTH] for a in selection.arguments]
        if len(fields) >= MAX_ROOT_FIELDS:
            break
    return {
        "operationType": operation.operation.value,
        "operationName": operation.name.value if operation.name is not None else None,
        "fields": fields,
        "args": args,
    }


class _Traced:
    """The span one operation is recorded on, and the scope to close if we opened it."""

    __slots__ = ("scope", "span")

    def __init__(self, span: Span, scope: Optional[Invocation]) -> None:
        self.span = span
        self.scope = scope


def _begin(entry: Entry, operation: Any) -> Optional[_Traced]:
    if operation.operation.value not in _TRACED_OPERATIONS:
        return None
    client = get_client()
    if not client.tracing or not entry.keys.isdisjoint(client.config.disabled_instrumentations):
        return None
    active = current_span()
    if active is not None and (active.kind != ENTRY or active.name == SPAN_NAME):
        return None  # inside an exit, or an operation already traced: nothing of its own
    data = describe(operation)  # first: nothing is changed if reading the operation fails
    if active is not None:
        if active.recording:
            if active.name not in _KEEP_NAME:
                active.name = SPAN_NAME
            active.set_data("graphql", data)
        return _Traced(active, None)
    scope = open_entry(SPAN_NAME, None, data={"graphql": data}, error_path=ERROR_PATH)
    return _Traced(scope.__enter__(), scope)


def _errors_of(context: Any) -> Any:
    """The errors the operation collected (``collected_errors`` since graphql-core 3.2.7)."""
    collected = getattr(context, "collected_errors", None)
    if collected is not None:
        return collected.errors
    return getattr(context, "errors", ())


def _record(span: Span, context: Any, exc: Optional[BaseException]) -> None:
    """Count the operation's errors on its span."""
    messages = [str(getattr(e, "message", e)) for e in _errors_of(context) or ()]
    if exc is not None:
        messages.append(f"{type(exc).__name__}: {exc}")
    if messages and span.recording:
        span.error_count += len(messages)
        section = span.data.setdefault("graphql", {})
        section["errors"] = ", ".join(messages)[:MAX_ERROR_LENGTH]


def _make(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    # Everything that runs per call after the start is guarded here, in the closure: a
    # failure of ours neither reaches the operation nor leaves an entry we opened active.
    def end(traced: _Traced, context: Any, exc: Optional[BaseException]) -> None:
        try:
            _record(traced.span, context, exc)
        except Exception:
            tracer_bug("recording GraphQL errors")
        if traced.scope is not None:
            try:
                traced.scope.__exit__(None, None, None)
            except Exception:
                tracer_bug("ending a graphql.server span")

    async def completed(traced: _Traced, context: Any, pending: Any) -> Any:
        try:
            result = await pending
        except BaseException as exc:
            end(traced, context, exc)
            raise
        end(traced, context, None)
        return result

    def execute_operation(self: Any, operation: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            traced = _begin(entry, operation)
        except Exception:
            tracer_bug("starting a graphql.server span")
            traced = None
        if traced is None:
            return original(self, operation, *args, **kwargs)
        try:
            result = original(self, operation, *args, **kwargs)
        except BaseException as exc:
            end(traced, self, exc)
            raise
        if self.is_awaitable(result):
            return completed(traced, self, result)
        end(traced, self, None)
        return result

    return execute_operation


PATCHES = {
    "graphql.execution.execute": (Custom("ExecutionContext", "execute_operation", _make),),
}
