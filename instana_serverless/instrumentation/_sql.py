"""What the database instrumentations share: the statement as the driver received it, and the
connection facts (host, port, db, user) read once per connection where the driver allows.

Bound parameter values are never read: only the statement text, with its placeholders.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

#: longer statements are cut: a bulk INSERT with inlined values must not fill the buffer
MAX_STATEMENT = 4000
#: where a connection object that allows it keeps what ``compute`` found
FACTS_ATTR = "_instana_db_facts"


def statement_text(statement: Any) -> str:
    if isinstance(statement, str):
        text = statement
    elif isinstance(statement, (bytes, bytearray, memoryview)):
        text = bytes(statement).decode("utf-8", "replace")
    else:
        text = str(statement)
    return text[:MAX_STATEMENT]


def compact(values: Dict[str, Any]) -> Dict[str, Any]:
    """Facts without the unknown ones; bytes (some drivers keep names so) as text."""
    out: Dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        out[key] = value
    return out


def connection_facts(connection: Any, compute: Callable[[Any], Dict[str, Any]]) -> Dict[str, Any]:
    """``compute(connection)``, kept on the connection when it takes attributes (they do not
    change for its lifetime); a fresh dict the caller may extend."""
    facts: Optional[Dict[str, Any]] = getattr(connection, FACTS_ATTR, None)
    if facts is None:
        facts = compute(connection)
        try:  # noqa: SIM105  (no contextlib on the cold path)
            setattr(connection, FACTS_ATTR, facts)
        except (AttributeError, TypeError):
            pass  # __slots__ or a C type: computed on each call (cheap attribute reads)
    return dict(facts)


def span_data(section: str, statement: Any, facts: Dict[str, Any]) -> Dict[str, Any]:
    facts["stmt"] = statement_text(statement)
    return {section: facts}
