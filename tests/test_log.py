"""The library's logger: levels, injection, visible configuration warnings, root untouched."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Iterator

import pytest

from instana_serverless import log
from instana_serverless.config import Config, Options, resolve
from tests.conftest import Collect

OURS = "instana_serverless"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put every logger and the module state back as they were, whatever the test did."""
    ours = logging.getLogger(OURS)
    root = logging.getLogger()
    saved = (
        ours.level,
        list(ours.handlers),
        ours.propagate,
        ours.disabled,
        root.level,
        list(root.handlers),
    )
    saved_state = (log._injected, log._level, log._explicit, log._debug)
    log.reset()
    yield
    ours.setLevel(saved[0])
    ours.handlers[:] = saved[1]
    ours.propagate, ours.disabled = saved[2], saved[3]
    root.setLevel(saved[4])
    root.handlers[:] = saved[5]
    log._injected, log._level, log._explicit, log._debug = saved_state


@pytest.fixture
def collect() -> Iterator[Collect]:
    handler = Collect()
    logging.getLogger(OURS).addHandler(handler)
    yield handler
    logging.getLogger(OURS).removeHandler(handler)


def test_logger_name_and_default() -> None:
    assert log.LOGGER_NAME == OURS
    assert log.logger() is logging.getLogger(OURS)


def test_default_level_is_error() -> None:
    log.apply(resolve(environ={}))
    assert logging.getLogger(OURS).level == logging.ERROR
    assert not log.debug_enabled()


@pytest.mark.parametrize("value", ["true", "1", "YES", " on "])
def test_instana_debug_sets_debug(value: str) -> None:
    log.apply(resolve(environ={"INSTANA_DEBUG": value}))
    assert logging.getLogger(OURS).level == logging.DEBUG
    assert log.debug_enabled()


@pytest.mark.parametrize(
    ("value", "level"),
    [("debug", 10), ("info", 20), ("warn", 30), ("Warning", 30), ("ERROR", 40)],
)
def test_instana_log_level(value: str, level: int) -> None:
    log.apply(resolve(environ={"INSTANA_LOG_LEVEL": value}))
    assert logging.getLogger(OURS).level == level
    assert log.debug_enabled() is (level == logging.DEBUG)


def test_debug_enabled_turns_off_again() -> None:
    log.apply(resolve(environ={"INSTANA_DEBUG": "1"}))
    assert log.debug_enabled()
    log.apply(resolve(environ={}))
    assert not log.debug_enabled()


@pytest.mark.parametrize(
    "environ",
    [{}, {"INSTANA_DEBUG": "true"}, {"INSTANA_LOG_LEVEL": "info"}, {"INSTANA_TIMEOUT": "bad"}],
)
def test_apply_never_touches_root_logger(environ: dict[str, str]) -> None:
    root = logging.getLogger()
    root.setLevel(logging.CRITICAL)
    before = list(root.handlers)
    ours_before = list(logging.getLogger(OURS).handlers)
    log.apply(resolve(environ=environ))
    log.config_warning("something is off")
    assert root.level == logging.CRITICAL
    assert root.handlers == before
    assert logging.getLogger(OURS).handlers == ours_before


def test_config_warning_visible_under_default_level(collect: Collect) -> None:
    log.apply(resolve(environ={}))
    assert logging.getLogger(OURS).level == logging.ERROR
    log.config_warning("bad INSTANA_ZONE")
    assert collect.messages == ["bad INSTANA_ZONE"]
    assert collect.records[0].levelno == logging.WARNING
    assert collect.records[0].name == OURS


def test_config_warning_visible_before_apply(collect: Collect) -> None:
    log.config_warning("early")
    assert collect.messages == ["early"]


def test_config_warning_reaches_last_resort_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    logging.getLogger().handlers[:] = []
    log.apply(resolve(environ={}))
    log.config_warning("visible on stderr")
    assert "visible on stderr" in capsys.readouterr().err


def test_config_warning_suppressed_by_explicit_error_level(collect: Collect) -> None:
    log.apply(resolve(environ={"INSTANA_LOG_LEVEL": "error"}))
    log.config_warning("hidden")
    assert collect.records == []


def test_config_warning_shown_with_explicit_warn_level(collect: Collect) -> None:
    log.apply(resolve(environ={"INSTANA_LOG_LEVEL": "warn"}))
    log.config_warning("shown")
    assert collect.messages == ["shown"]


def test_config_warning_uses_config_passed_before_apply(collect: Collect) -> None:
    log.config_warning("hidden", Config(log_level=40, log_level_explicit=True))
    log.config_warning("shown", Config(log_level=40, log_level_explicit=False))
    assert collect.messages == ["shown"]


def test_resolve_warnings_respect_explicit_level_being_resolved(collect: Collect) -> None:
    resolve(environ={"INSTANA_LOG_LEVEL": "error", "INSTANA_TIMEOUT": "x"})
    assert collect.records == []
    resolve(environ={"INSTANA_TIMEOUT": "x"})
    assert len(collect.records) == 1


def test_injected_logger(collect: Collect) -> None:
    user = logging.getLogger("user.app.instana")
    user.setLevel(logging.INFO)
    sink = Collect()
    user.addHandler(sink)
    try:
        log.apply(resolve(Options(logger=user), environ={}))
        assert log.logger() is user
        assert user.level == logging.INFO  # the user's level is theirs unless set explicitly
        log.config_warning("to the user")
        assert sink.messages == ["to the user"]
        assert collect.records == []
        log.apply(resolve(Options(logger=user), environ={"INSTANA_DEBUG": "true"}))
        assert user.level == logging.DEBUG
        assert log.debug_enabled()
    finally:
        user.removeHandler(sink)
        user.setLevel(logging.NOTSET)


def test_invalid_logger_option_is_rejected(collect: Collect) -> None:
    config = resolve(Options(logger="not a logger"), environ={})
    assert config.logger is None
    assert len(collect.records) == 1
    assert "Options.logger" in collect.messages[0]


def test_reset_forgets_injected_logger() -> None:
    log.apply(resolve(Options(logger=logging.getLogger("user.x")), environ={}))
    log.reset()
    assert log.logger() is logging.getLogger(OURS)


def test_modules_import_without_heavy_stdlib() -> None:
    """config/secrets/log must not import logging, re, urllib, ... (cold-start budget)."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(log.__file__)))
    code = f"""
import os, sys, types, typing
before = set(sys.modules)
# Stand-in package so only these three modules are measured, not the package __init__.
pkg = types.ModuleType("instana_serverless")
pkg.__path__ = [os.path.join({package_dir!r}, "instana_serverless")]
sys.modules["instana_serverless"] = pkg
import instana_serverless.config, instana_serverless.secrets, instana_serverless.log
new = set(sys.modules) - before
heavy = {{"logging", "re", "urllib", "urllib.parse", "dataclasses", "ipaddress", "json"}}
print(sorted(new & heavy))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
