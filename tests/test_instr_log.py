"""``log`` exit spans for log records at WARNING and above inside a trace, with real loggers
and handlers.

What every entry shares (patching, disabling, suppression, errors) is in
tests/test_instrumentation_contract.py; this file checks the data, the levels, our own
records, the caller information the record keeps, and re-entrant logging.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterator, List

import pytest

import instana_serverless as instana
from instana_serverless import log as our_log
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation import instrument, uninstrument
from tests.conftest import configure_for, span_name
from tests.http_service import Downstream
from tests.instr_support import traced
from tests.lambda_fixtures import load_event, make_context

__all__ = ["traced"]  # a fixture, used by name as a test argument


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("tests.app")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)


def log_spans(spans: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [s for s in spans if span_name(s) == "log"]


def test_warning_in_a_lambda_handler_is_a_log_exit_with_the_formatted_message(
    client: Client, acceptor: Acceptor, app_logger: logging.Logger
) -> None:
    uninstrument()

    @instana.lambda_handler
    def handler(event: Any, context: Any) -> str:
        app_logger.debug("not traced")
        app_logger.info("not traced either")
        app_logger.warning("order %s not found in %s", 42, "eu-west-1")
        return "ok"

    try:
        assert handler(load_event("api_gateway_rest"), make_context()) == "ok"
    finally:
        uninstrument()
    spans = acceptor.wait_for_spans(2)
    (entry,) = [s for s in spans if s["k"] == 1]
    (span,) = log_spans(spans)
    assert span["k"] == 2 and span["ec"] == 0
    assert span["t"] == entry["t"] and span["p"] == entry["s"]
    assert span["data"] == {"log": {"message": "order 42 not found in eu-west-1"}}


def test_error_and_exception_count_as_errors_with_the_exception_as_parameters(
    traced: Client, acceptor: Acceptor, app_logger: logging.Logger
) -> None:
    with instana.entry_span("job"):
        app_logger.error("payment %(id)s declined", {"id": "p-1"})
        try:
            raise ValueError("boom")
        except ValueError:
            app_logger.exception("could not charge")
            app_logger.critical("still failing")  # no exc_info, but one is being handled
        app_logger.log(logging.WARNING, "retrying", exc_info=KeyError("gone"))
    spans = log_spans(acceptor.wait_for_spans(5))
    assert [(s["data"]["log"], s["ec"]) for s in spans] == [
        ({"message": "payment p-1 declined"}, 1),
        ({"message": "could not charge", "parameters": "<class 'ValueError'> boom"}, 1),
        ({"message": "still failing", "parameters": "<class 'ValueError'> boom"}, 1),
        ({"message": "retrying", "parameters": "<class 'KeyError'> 'gone'"}, 0),
    ]


def test_no_span_outside_a_trace_or_below_warning(
    traced: Client, acceptor: Acceptor, app_logger: logging.Logger
) -> None:
    app_logger.error("outside any trace")
    with instana.entry_span("job"):
        app_logger.info("below warning")
    assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["job"]


def test_our_own_records_never_make_a_span(
    acceptor: Acceptor, app_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure_for(acceptor, log_level="debug")
    uninstrument()
    instrument()
    try:
        with instana.entry_span("job"):
            our_log.logger().warning("instana_serverless: our own warning")
            logging.getLogger("instana_serverless.reporter").error("a child of ours")
            # an injected user logger, used by our code: still ours
            monkeypatch.setattr(our_log, "_injected", app_logger)
            our_log.config_warning("a setting is wrong")
            monkeypatch.setattr(our_log, "_injected", None)
        assert [span_name(s) for s in acceptor.wait_for_spans(1)] == ["job"]
        (keep,) = [h for h in app_logger.handlers if isinstance(h, Keep)]
        assert [r.getMessage() for r in keep.records] == ["a setting is wrong"]
    finally:
        uninstrument()
        instana.configure(environ={})


def test_the_record_still_names_the_callers_line(
    traced: Client, acceptor: Acceptor, app_logger: logging.Logger
) -> None:
    (keep,) = [h for h in app_logger.handlers if isinstance(h, Keep)]
    with instana.entry_span("job"):
        app_logger.warning("where am I")
    (record,) = keep.records
    assert record.funcName == "test_the_record_still_names_the_callers_line"
    assert record.pathname == __file__
    assert log_spans(acceptor.wait_for_spans(2))


def test_a_handler_that_logs_again_gives_one_span_and_a_raising_handler_is_recorded(
    traced: Client, acceptor: Acceptor, app_logger: logging.Logger
) -> None:
    class Chatty(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logging.getLogger("tests.other").warning("seen: %s", record.getMessage())

    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise RuntimeError("handler down")

    chatty = Chatty()
    app_logger.addHandler(chatty)
    try:
        with instana.entry_span("job"):
            app_logger.warning("first")
    finally:
        app_logger.removeHandler(chatty)
    (span,) = log_spans(acceptor.wait_for_spans(2))
    assert span["data"]["log"]["message"] == "first"
    acceptor.clear()

    broken = Broken()
    app_logger.addHandler(broken)
    try:
        with pytest.raises(RuntimeError, match="handler down"), instana.entry_span("job"):
            app_logger.warning("second")
    finally:
        app_logger.removeHandler(broken)
    (span,) = log_spans(acceptor.wait_for_spans(2))
    assert span["ec"] == 1 and span["data"]["log"]["error"] == "RuntimeError: handler down"


def test_a_message_with_bad_arguments_keeps_its_text() -> None:
    from instana_serverless.instrumentation import log as log_instr

    record = logging.LogRecord("tests.app", logging.WARNING, __file__, 1, "%d items", ("x",), None)
    with pytest.raises(TypeError):
        record.getMessage()  # logging reports this in its handlers; the span keeps the text
    assert log_instr._message(record) == "%d items"


def test_a_handler_shipping_records_over_http_client_adds_no_http_span(
    traced: Client, acceptor: Acceptor, app_logger: logging.Logger, downstream: Downstream
) -> None:
    """A handler that ships records with urllib.request runs inside the log span: a low-level
    client inside an exit passes through (no second span, no trace headers on the record)."""
    import urllib.request

    class Shipper(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            body = record.getMessage().encode()
            urllib.request.urlopen(f"{downstream.url}/logs", data=body, timeout=5).read()

    shipper = Shipper()
    app_logger.addHandler(shipper)
    try:
        with instana.entry_span("job"):
            app_logger.warning("shipped")
    finally:
        app_logger.removeHandler(shipper)
    assert [span_name(s) for s in acceptor.wait_for_spans(2) if s["k"] == 2] == ["log"]
    (request,) = downstream.requests
    assert request["path"] == "/logs" and "x-instana-t" not in request["headers"]
