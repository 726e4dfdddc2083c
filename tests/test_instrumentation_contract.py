"""The contract every registry entry keeps, run against each entry's scenarios (real servers).

A library joins by being a row of ``instrumentation.registry.ENTRIES`` plus a module
``tests/scenarios/<name>.py`` (see tests/scenarios/__init__.py); nothing here names a library.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any, Dict, List, Tuple

import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import (
    _wrap,
    instrument,
    patched,
    registry,
    skipped,
    uninstrument,
)
from instana_serverless.instrumentation._patches import Custom, Function, Install, Method
from tests.conftest import configure_for, span_name
from tests.instr_support import exits, traced
from tests.scenarios import Scenario, scenarios_for

__all__ = ["traced"]  # a fixture, used by name as a test argument


ENTRIES = registry.ENTRIES
ALL_CASES: List[Tuple[registry.Entry, Scenario]] = [
    (entry, scenario) for entry in ENTRIES for scenario in scenarios_for(entry.name)
]
ALL_IDS = [scenario.label or entry.name for entry, scenario in ALL_CASES]
# exit-span rows; the web-framework rows (``enriches``) have their own in-process checks below
CASES = [(entry, scenario) for entry, scenario in ALL_CASES if not entry.enriches]
IDS = [scenario.label or entry.name for entry, scenario in CASES]
KEYS = [(entry, scenario, key) for entry, scenario in CASES for key in sorted(entry.keys)]
WEB = [(entry, scenario) for entry, scenario in ALL_CASES if entry.enriches]
WEB_IDS = [scenario.label or entry.name for entry, scenario in WEB]
WEB_KEYS = [(entry, scenario, key) for entry, scenario in WEB for key in sorted(entry.keys)]


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> Tuple[registry.Entry, Scenario, Any]:
    entry, scenario = request.param
    return entry, scenario, request.getfixturevalue(scenario.fixture)


def traced_call(client: Client, acceptor: Acceptor, scenario: Scenario, target: Any) -> Any:
    """One scenario call inside an entry span: the spans the backend received."""
    with instana.entry_span("contract") as entry:
        scenario.call(target)
    spans = acceptor.wait_for_spans(1)
    client.flush()
    spans = acceptor.spans()
    expected = scenario.span_name if scenario.entry else "contract"
    assert [span_name(s) for s in spans if s["k"] == 1] == [expected]
    assert all(s["t"] == entry.trace_id for s in spans)
    return spans


def originals(entry: registry.Entry) -> Dict[str, Any]:
    """What the entry's method/function patches would replace, as the library has it now."""
    from importlib import import_module

    found: Dict[str, Any] = {}
    declared = import_module(f"instana_serverless.instrumentation.{entry.name}").PATCHES
    for module_name, patches in declared.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for patch in patches:
            if isinstance(patch, (Method, Custom)):
                owner: Any = module
                for part in patch.owner.split(".") if patch.owner else ():
                    owner = getattr(owner, part)
                found[f"{module_name}.{patch.owner}.{patch.attr}"] = owner.__dict__.get(patch.attr)
            elif isinstance(patch, Function):
                found[f"{module_name}.{patch.attr}"] = module.__dict__.get(patch.attr)
    return found


def installs_only(entry: registry.Entry) -> bool:
    """The entry only installs library hooks (a listener …): nothing to compare by identity."""
    from importlib import import_module

    declared = import_module(f"instana_serverless.instrumentation.{entry.name}").PATCHES
    return all(isinstance(p, Install) for patches in declared.values() for p in patches)


# --- the registry itself ---------------------------------------------------------------------


def test_registry_rows_are_consistent() -> None:
    from importlib import import_module

    names = [entry.name for entry in ENTRIES]
    assert len(set(names)) == len(names)
    words: Dict[str, str] = {}
    for entry in ENTRIES:
        assert entry.category in registry.CATEGORIES, entry
        for covered in entry.covers:
            assert covered in registry.BY_NAME, (entry, covered)
        for word in (entry.name, *entry.aliases):
            assert word not in words and word not in registry.CATEGORIES, word
            words[word] = entry.name
        module = import_module(f"instana_serverless.instrumentation.{entry.name}")
        assert sorted(module.PATCHES) == sorted(entry.modules), entry
        assert scenarios_for(entry.name), f"tests/scenarios/{entry.name}.py has no scenario"


def test_every_entry_module_avoids_typing_and_contextlib_at_run_time() -> None:
    code = "\n".join(
        [
            "import sys",
            "import instana_serverless",
            "before = set(sys.modules)",
            "import instana_serverless.instrumentation._wrap",
            "import instana_serverless.instrumentation._patches",
        ]
        + [f"import instana_serverless.instrumentation.{e.name}" for e in ENTRIES]
        + ["print(','.join(sorted(set(sys.modules) - before)))"]
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = out.stdout.strip().split(",")
    assert "instana_serverless.instrumentation._wrap" in added
    heavy = {"typing", "contextlib", "inspect", "logging", "asyncio", "threading", "functools"}
    assert not heavy & set(added), added


# --- import behaviour (fresh interpreters) ---------------------------------------------------

_IMPORT_PROBE = """
import json, sys
startup = set(sys.modules)  # e.g. namespace packages (google, google.cloud) set up by site
import instana_serverless as instana
instana.configure(instana.Options(endpoint_url="http://127.0.0.1:9", agent_key="k"), environ={})
from instana_serverless.instrumentation import instrument, patched
if INSTRUMENT:
    instrument()
    instrument()
watched = WATCHED
before_import = sorted(
    m for m in set(sys.modules) - startup if m in watched or m.split(".")[0] in watched
)
loaded = set(sys.modules)
for name in IMPORTS:
    __import__(name)
print(json.dumps({
    "before": before_import,
    "added": sorted(m for m in set(sys.modules) - loaded if m.startswith("instana_serverless")),
    "patched": patched(),
}))
"""


def _probe(entry: registry.Entry, scenario: Scenario, with_instrument: bool) -> Dict[str, Any]:
    watched = sorted({m.split(".")[0] for m in entry.modules} | set(entry.modules))
    code = (
        _IMPORT_PROBE.replace("INSTRUMENT", repr(with_instrument))
        .replace("WATCHED", repr(watched))
        .replace("IMPORTS", repr(scenario.imports))
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize(("entry", "scenario"), ALL_CASES, ids=ALL_IDS)
def test_library_is_never_imported_by_us_and_patched_on_import(
    entry: registry.Entry, scenario: Scenario
) -> None:
    result = _probe(entry, scenario, with_instrument=True)
    assert result["before"] == []  # instrument() imported nothing of the library
    assert result["patched"].get(entry.name), result
    added = set(result["added"])
    ours = f"instana_serverless.instrumentation.{entry.name}"
    assert ours in added
    # only our own small modules (patch module, shared wrapper), and another entry's patch
    # module only when the library imported that one too (boto3 imports urllib3)
    assert all(m.startswith("instana_serverless.") for m in added), added
    others = {f"instana_serverless.instrumentation.{e.name}" for e in ENTRIES} - {ours}
    also_patched = {f"instana_serverless.instrumentation.{n}" for n in result["patched"]}
    assert added & others <= also_patched, added
    baseline = _probe(entry, scenario, with_instrument=False)
    assert baseline["patched"] == {} and not any(
        m.startswith("instana_serverless.instrumentation.") for m in baseline["added"]
    )


# --- in-process behaviour, against the scenario's server -------------------------------------


def test_patched_at_once_when_already_imported_and_idempotent(
    client: Client, acceptor: Acceptor, case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    entry, scenario, target = case
    uninstrument()
    before = originals(entry)
    assert before or installs_only(entry)
    assert not any(getattr(v, "__instana_wrapped__", False) for v in before.values())
    instrument()
    try:
        changes = patched()[entry.name]
        instrument()
        instrument()
        assert patched()[entry.name] == changes  # nothing wrapped twice
        spans = traced_call(client, acceptor, scenario, target)
        if scenario.entry:  # the entry itself became the row's span: nothing added under it
            assert exits(spans) == [] and spans[0]["ec"] == 0
            return
        (exit_span,) = exits(spans)
        assert span_name(exit_span) == scenario.span_name and exit_span["ec"] == 0
        (entry_span,) = [s for s in spans if s["k"] == 1]
        assert exit_span["p"] == entry_span["s"]
        context = scenario.sent_context(target)
        if context is not None:
            assert context["x-instana-s"] == exit_span["s"]
            assert context["x-instana-t"] == exit_span["t"]
    finally:
        uninstrument()
    assert originals(entry) == before  # restored exactly
    assert entry.name not in patched()


def test_no_span_after_uninstrument(
    client: Client, acceptor: Acceptor, case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = case
    instrument()
    uninstrument()
    with instana.entry_span("contract"):
        scenario.call(target)
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["contract"]


@pytest.mark.parametrize(
    ("entry", "scenario", "key"),
    KEYS,
    ids=[f"{s.label or e.name}-{k}" for e, s, k in KEYS],
)
def test_every_name_alias_and_category_disables(
    request: pytest.FixtureRequest,
    acceptor: Acceptor,
    entry: registry.Entry,
    scenario: Scenario,
    key: str,
) -> None:
    target = request.getfixturevalue(scenario.fixture)
    uninstrument()
    configure_for(acceptor)
    instrument()  # patched while enabled ...
    try:
        configure_for(acceptor, disabled_instrumentations=[key])  # ... then disabled
        with instana.entry_span("contract"):
            scenario.call(target)
        # with an ORM disabled but not its driver, the driver's own spans show instead
        revealed = {
            covered.span_name
            for name in entry.covers
            if key not in registry.BY_NAME[name].keys
            for covered in scenarios_for(name)
        }
        spans = acceptor.wait_for_spans(1)
        assert [span_name(s) for s in spans if span_name(s) not in revealed] == ["contract"]
        context = scenario.sent_context(target)
        assert not context, context
        uninstrument()
        instrument()  # disabled from the start: not even patched
        assert entry.name not in patched()
    finally:
        uninstrument()
        instana.configure(environ={})


def test_a_bug_of_ours_stays_invisible(
    traced: Client,
    acceptor: Acceptor,
    case: Tuple[registry.Entry, Scenario, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry, scenario, target = case

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    expected = scenario.call(target)
    if scenario.entry:
        _entry_row_bugs_stay_invisible(traced, acceptor, entry, scenario, target, expected)
        return
    # the span cannot even be started: the call passes through untraced
    monkeypatch.setattr(_wrap, "start_child", broken)
    with instana.entry_span("contract"):
        assert scenario.call(target) == expected
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["contract"]
    monkeypatch.undo()
    if installs_only(entry):
        uninstrument()
        return  # a listener has no start/end functions: its own tests break its internals
    # start and end functions themselves failing, patched in afresh
    from importlib import import_module

    module = import_module(f"instana_serverless.instrumentation.{entry.name}")
    declared = module.PATCHES
    # Custom wrappers (built on _wrap.begin/finish) and modules whose wrappers are built at
    # connect time or run from listeners read their module's start/end per call: those break too
    own = any(isinstance(p, Custom) for ps in declared.values() for p in ps) or not any(
        isinstance(p, (Method, Function)) for ps in declared.values() for p in ps
    )
    if own and hasattr(module, "end"):
        monkeypatch.setattr(module, "end", broken)
    for patches in declared.values():
        for patch in patches:
            if isinstance(patch, (Method, Function)):
                monkeypatch.setattr(patch, "end", broken)
    uninstrument()
    instrument()
    with instana.entry_span("contract"):
        assert scenario.call(target) == expected
    traced.flush()
    assert len(exits(acceptor.spans())) == 1  # started, ended by us despite the broken end
    if own and hasattr(module, "start"):
        monkeypatch.setattr(module, "start", broken)
    for patches in declared.values():
        for patch in patches:
            if isinstance(patch, (Method, Function)):
                monkeypatch.setattr(patch, "start", broken)
    uninstrument()
    instrument()
    with instana.entry_span("contract"):
        assert scenario.call(target) == expected
    traced.flush()
    # an ORM that could not start its span leaves its driver's span to show the call
    revealed = {s.span_name for name in entry.covers for s in scenarios_for(name)}
    assert len([s for s in exits(acceptor.spans()) if span_name(s) not in revealed]) == 1
    monkeypatch.undo()
    uninstrument()


def _entry_row_bugs_stay_invisible(
    traced: Client,
    acceptor: Acceptor,
    entry: registry.Entry,
    scenario: Scenario,
    target: Any,
    expected: Any,
) -> None:
    """A row that takes over the entry, with every function of its patch module failing in
    turn: the call's result is unchanged and the entry still arrives."""
    from importlib import import_module

    module = import_module(f"instana_serverless.instrumentation.{entry.name}")
    traced.flush()
    acceptor.clear()  # the root entry the untraced reference call opened

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    functions = [
        name
        for name, value in vars(module).items()
        if callable(value)
        and getattr(value, "__module__", None) == module.__name__
        and not isinstance(value, type)
        and name != "_make"  # builds the wrapper at patch time, not per call
    ]
    assert functions
    for name in functions:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(module, name, broken)
            uninstrument()
            instrument()
            with instana.entry_span("contract"):
                assert scenario.call(target) == expected, name
            traced.flush()
            assert [s["k"] for s in acceptor.spans()] == [1], name
            acceptor.clear()
    uninstrument()


def test_no_active_trace_no_span(
    traced: Client, acceptor: Acceptor, case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = case
    scenario.call(target)
    assert traced.flush()
    if scenario.entry:  # an operation outside any entry is an entry of its own, a root
        (root,) = acceptor.spans()
        assert (root["n"], root["k"]) == (scenario.span_name, 1) and "p" not in root
        return
    assert acceptor.spans() == []
    assert not scenario.sent_context(target)


def test_suppressed_trace_records_nothing_and_passes_level_zero(
    traced: Client, acceptor: Acceptor, case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = case
    with instana.entry_span("contract", headers={"X-INSTANA-L": "0"}):
        scenario.call(target)
    assert traced.flush()
    assert acceptor.spans() == [] and len(traced.buffer) == 0
    context = scenario.sent_context(target)
    if context is not None:
        assert context.get("x-instana-l") == "0" and "x-instana-t" not in context


def test_library_errors_are_recorded_and_reraised_unchanged(
    traced: Client, acceptor: Acceptor, case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = case
    if scenario.error is None:  # failures come back in the result: the same result traced
        untraced_result = scenario.failing_call(target)
        traced.flush()
        acceptor.clear()  # the root entry of that reference call
        with instana.entry_span("contract"):
            assert scenario.failing_call(target) == untraced_result
        # (a library may also log the failure: a ``log`` exit under it)
        (marked,) = [s for s in acceptor.wait_for_spans(1) if s["k"] == 1]
        assert marked["n"] == scenario.span_name and marked["ec"] >= 1
        error = marked["data"]
        for key in scenario.error_path:
            error = error[key]
        assert error[scenario.error_key]
        return
    with pytest.raises(scenario.error) as untraced:
        scenario.failing_call(target)  # outside a trace: what the library raises without us
    with pytest.raises(BaseException) as raised, instana.entry_span("contract"):
        scenario.failing_call(target)
    # the library's own exception, neither wrapped nor replaced
    assert isinstance(raised.value, scenario.error)
    assert type(raised.value).__qualname__ == type(untraced.value).__qualname__
    assert raised.value.__cause__ is None or not isinstance(raised.value.__cause__, RuntimeError)
    (exit_span,) = exits(acceptor.wait_for_spans(2))
    assert span_name(exit_span) == scenario.span_name
    assert exit_span["ec"] == 1
    error = exit_span["data"]
    for key in scenario.error_path:
        error = error[key]
    assert type(raised.value).__name__ in error[scenario.error_key]


# Standard-library rows (http.client, logging) have no minimum version to fall below.
VERSIONED = [entry for entry in ENTRIES if entry.min_version is not None]


@pytest.mark.parametrize("entry", VERSIONED, ids=[e.name for e in VERSIONED])
def test_version_below_the_minimum_is_not_patched(
    acceptor: Acceptor,
    entry: registry.Entry,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: List[Any],
) -> None:
    from instana_serverless import instrumentation

    module = sys.modules[entry.version_module]
    monkeypatch.setattr(module, "__version__", "0.0.1", raising=False)
    monkeypatch.setattr(instrumentation, "_said", set())
    configure_for(acceptor, log_level="info")
    uninstrument()
    try:
        instrument()
        uninstrument()
        instrument()
        assert entry.name not in patched()
        assert "older than" in skipped()[entry.name]
        # aiohttp's client and server rows read the same version: one line each
        said = [
            r
            for r in all_logs
            if "older than" in r.getMessage() and f" {entry.name} not traced" in r.getMessage()
        ]
        assert [r.levelname for r in said] == ["INFO"]  # once, however often instrumented
        assert entry.version_module in said[0].getMessage()
    finally:
        uninstrument()
        instana.configure(environ={})


# --- web-framework rows: they enrich the active entry instead of opening exits ---------------


def web_entry(acceptor: Acceptor, client: Client) -> Dict[str, Any]:
    """The one entry span the backend received (the ``contract`` one)."""
    client.flush()
    spans = acceptor.wait_for_spans(1)
    entries = [s for s in spans if s["k"] == 1]
    assert [span_name(s) for s in entries] == ["contract"], entries
    return entries[0]


@pytest.mark.parametrize(("entry", "scenario"), WEB, ids=WEB_IDS)
def test_framework_patched_at_once_enriches_and_restores(
    client: Client, acceptor: Acceptor, entry: registry.Entry, scenario: Scenario
) -> None:
    uninstrument()
    untraced = scenario.call(None)
    before = originals(entry)
    assert before and not any(getattr(v, "__instana_wrapped__", False) for v in before.values())
    instrument()
    try:
        changes = patched()[entry.name]
        instrument()
        assert patched()[entry.name] == changes
        with instana.entry_span("contract"):
            assert scenario.call(None) == untraced  # the response as without us
        assert web_entry(acceptor, client)["data"]["http"]["path_tpl"] == scenario.path_tpl
    finally:
        uninstrument()
    assert originals(entry) == before
    acceptor.clear()
    with instana.entry_span("contract"):
        scenario.call(None)
    assert "http" not in web_entry(acceptor, client)["data"]


@pytest.mark.parametrize(("entry", "scenario"), WEB, ids=WEB_IDS)
def test_framework_error_goes_to_the_entry(
    traced: Client, acceptor: Acceptor, entry: registry.Entry, scenario: Scenario
) -> None:
    status, _ = scenario.failing_call(None)  # answered by the framework, not raised
    assert status == 500
    traced.flush()
    acceptor.clear()  # the entry a row like aiohttp_server opens when none is active
    with instana.entry_span("contract"):
        assert scenario.failing_call(None)[0] == 500
    span = web_entry(acceptor, traced)
    assert span["ec"] == 1 and span["data"]["http"]["error"] == scenario.error_text


@pytest.mark.parametrize(
    ("entry", "scenario", "key"), WEB_KEYS, ids=[f"{s.label or e.name}-{k}" for e, s, k in WEB_KEYS]
)
def test_framework_every_name_alias_and_category_disables(
    acceptor: Acceptor, entry: registry.Entry, scenario: Scenario, key: str
) -> None:
    uninstrument()
    client = configure_for(acceptor)
    instrument()
    try:
        configure_for(acceptor, disabled_instrumentations=[key])
        with instana.entry_span("contract"):
            scenario.call(None)
        data = web_entry(acceptor, client)["data"]
        assert set(data) <= {"sdk"}, data  # the entry_span's own SDK section, nothing added
        uninstrument()
        instrument()
        assert entry.name not in patched()
    finally:
        uninstrument()
        instana.configure(environ={})


@pytest.mark.parametrize(("entry", "scenario"), WEB, ids=WEB_IDS)
def test_framework_bug_of_ours_stays_invisible(
    traced: Client,
    acceptor: Acceptor,
    entry: registry.Entry,
    scenario: Scenario,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import import_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    expected, failed = scenario.call(None), scenario.failing_call(None)
    traced.flush()
    acceptor.clear()
    module = import_module(f"instana_serverless.instrumentation.{entry.name}")
    monkeypatch.setattr(module, "set_route", broken)
    monkeypatch.setattr(module, "set_error", broken)
    with instana.entry_span("contract"):
        assert scenario.call(None) == expected
        assert scenario.failing_call(None) == failed
    span = web_entry(acceptor, traced)
    assert "path_tpl" not in span["data"].get("http", {})


@pytest.mark.parametrize(("entry", "scenario"), WEB, ids=WEB_IDS)
def test_framework_without_an_entry(
    traced: Client, acceptor: Acceptor, entry: registry.Entry, scenario: Scenario
) -> None:
    scenario.call(None)
    traced.flush()
    spans = acceptor.spans()
    if not scenario.opens_entry:
        assert spans == []  # nothing to enrich, nothing made
        return
    entries = [s for s in spans if s["k"] == 1]
    assert [s["n"] for s in entries] == [scenario.opens_entry]
    assert entries[0]["data"]["http"]["path_tpl"] == scenario.path_tpl


# --- consumer entries (rows whose consumer opens an entry per message) -----------------------

CONSUMERS = [(entry, scenario) for entry, scenario in CASES if scenario.consumer]
CONSUMER_IDS = [scenario.label or entry.name for entry, scenario in CONSUMERS]
CONSUMER_KEYS = [(e, s, key) for e, s in CONSUMERS for key in sorted(e.keys)]
PRODUCER = {"x-instana-t": "1234567890abcdef", "x-instana-s": "00000000000000aa"}


class HandlerFailed(Exception):
    """Raised by the user's message handler in the consumer tests."""


@pytest.fixture(params=CONSUMERS, ids=CONSUMER_IDS)
def consumer_case(request: pytest.FixtureRequest) -> Tuple[registry.Entry, Scenario, Any]:
    entry, scenario = request.param
    return entry, scenario, request.getfixturevalue(scenario.fixture)


def consume_recording(scenario: Scenario, target: Any, context: Dict[str, str]) -> List[Any]:
    """The active span seen by the handler of each consumed message (one message)."""
    from instana_serverless.tracer import current_span

    seen: List[Any] = []
    scenario.consume(target, context, lambda: seen.append(current_span()))
    assert len(seen) == 1
    return seen


def test_a_consumed_message_is_an_entry_continuing_its_context(
    traced: Client, acceptor: Acceptor, consumer_case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = consumer_case
    (active,) = consume_recording(scenario, target, PRODUCER)
    (span,) = acceptor.wait_for_spans(1)  # sent when it ended: no other work around it
    assert (span["n"], span["k"], span["ec"]) == (scenario.span_name, 1, 0)
    assert (span["t"], span["p"]) == (PRODUCER["x-instana-t"], PRODUCER["x-instana-s"])
    assert active is not None and active.span_id == span["s"]  # active while handled


def test_a_handler_error_marks_the_consumer_entry(
    traced: Client, acceptor: Acceptor, consumer_case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = consumer_case

    def handle() -> None:
        raise HandlerFailed("bad message")

    with contextlib.suppress(HandlerFailed):  # raised by the library or kept by it, as it does
        scenario.consume(target, PRODUCER, handle)
    (span,) = acceptor.wait_for_spans(1)
    assert span["ec"] == 1
    error = span["data"]
    for key in scenario.error_path:
        error = error[key]
    assert "HandlerFailed: bad message" in error[scenario.error_key]


@pytest.mark.parametrize(
    ("entry", "scenario", "key"),
    CONSUMER_KEYS,
    ids=[f"{s.label or e.name}-{k}" for e, s, k in CONSUMER_KEYS],
)
def test_every_name_alias_and_category_disables_the_consumer_entries(
    request: pytest.FixtureRequest,
    acceptor: Acceptor,
    traced: Client,
    entry: registry.Entry,
    scenario: Scenario,
    key: str,
) -> None:
    target = request.getfixturevalue(scenario.fixture)
    configure_for(acceptor, disabled_instrumentations=[key])  # after instrument(): per message
    try:
        assert consume_recording(scenario, target, PRODUCER) == [None]
        instana.flush()
        assert acceptor.spans() == []
    finally:
        instana.configure(environ={})


def test_a_suppressed_message_makes_no_consumer_entry(
    traced: Client, acceptor: Acceptor, consumer_case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = consumer_case
    (active,) = consume_recording(scenario, target, {"x-instana-l": "0"})
    assert active is None or not active.recording
    traced.flush()
    assert acceptor.spans() == [] and len(traced.buffer) == 0


def test_a_bug_of_ours_never_reaches_the_message_handler(
    traced: Client,
    acceptor: Acceptor,
    consumer_case: Tuple[registry.Entry, Scenario, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from instana_serverless.instrumentation import _entry as entries

    _entry, scenario, target = consumer_case

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer bug")

    monkeypatch.setattr(entries, "open_entry", broken)
    assert consume_recording(scenario, target, PRODUCER) == [None]  # handled, untraced
    traced.flush()
    assert acceptor.spans() == []


def test_no_consumer_entry_after_uninstrument(
    traced: Client, acceptor: Acceptor, consumer_case: Tuple[registry.Entry, Scenario, Any]
) -> None:
    _entry, scenario, target = consumer_case
    uninstrument()
    assert consume_recording(scenario, target, PRODUCER) == [None]
    traced.flush()
    assert acceptor.spans() == []
