"""How to make one traced call of each instrumented library: what the shared contract suite
(tests/test_instrumentation_contract.py) runs for every registry entry.

Each registry row ``<name>`` has a module ``tests/scenarios/<name>.py`` defining
``SCENARIOS``: one ``Scenario`` per call style (e.g. sync and async). A scenario's ``fixture``
names a pytest fixture (in tests/conftest.py) giving its target — a loopback server, a
throwaway database — so a library whose server cannot start here plugs in a fixture that
skips (or, with CI=true, fails) instead of the contract suite knowing about it.
"""

from __future__ import annotations

import importlib
from typing import Any, List, Mapping, Optional, Tuple, Type


class Scenario:
    """One way to call a library; subclass and fill in the class attributes and methods."""

    #: pytest fixture giving the target passed to ``call`` / ``failing_call``
    fixture: str = ""
    #: what a user's code imports (run in a fresh interpreter by the import tests)
    imports: Tuple[str, ...] = ()
    #: the exit span one ``call`` gives, and where its error message goes
    span_name: str = ""
    error_path: Tuple[str, ...] = ()
    #: the key under ``error_path`` holding the message (``err`` for sqlalchemy)
    error_key: str = "error"
    #: the library's own exception ``failing_call`` raises, re-raised unchanged by us; None
    #: for a library that reports failures in its result (GraphQL), the span marked all the same
    error: Optional[Type[BaseException]] = Exception
    #: True for a row that makes the active entry its own (``span_name``) instead of adding an
    #: exit under it, and opens that entry itself when none is active (GraphQL)
    entry: bool = False
    #: a readable id for the test names
    label: str = ""
    #: a web-framework row (``Entry.enriches``): ``call`` serves ``GET /users/42`` inside the
    #: active entry, which gets ``path_tpl``; ``failing_call`` serves a route that raises and
    #: returns the response, whose failure the entry gets as ``error_text``
    path_tpl: str = ""
    error_text: str = ""
    #: the entry the row opens itself when none is active ("" for rows that only enrich)
    opens_entry: str = ""

    def call(self, target: Any) -> Any:
        """Make exactly one call that gives one exit span inside a trace (sync: run an async
        library's coroutine with ``asyncio.run``)."""
        raise NotImplementedError

    def failing_call(self, target: Any) -> Any:
        """A call the library itself fails with ``error`` (connection refused, bad query…)."""
        raise NotImplementedError

    def sent_context(self, target: Any) -> Optional[Mapping[str, str]]:
        """The trace headers (lower-case names) the target received with the last call, or
        None when the protocol carries no context (databases)."""
        return None


def scenarios_for(name: str) -> List[Scenario]:
    """The scenarios of registry entry ``name`` (ImportError when it has none yet)."""
    module = importlib.import_module(f"{__name__}.{name}")
    return list(module.SCENARIOS)
