"""The library's logger: levels, injection, visible configuration warnings, root untouched."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Iterator, Optional

import pytest

from instana_serverless import log
from instana_serverless.acceptor.server import Acceptor
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
    # Only our own stderr handler may be added, and only for an explicit level.
    added = [h for h in logging.getLogger(OURS).handlers if h not in ours_before]
    assert added == (
        [log._fallback] if "INSTANA_DEBUG" in environ or "INSTANA_LOG_LEVEL" in environ else []
    )


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


# --- INSTANA_DEBUG / INSTANA_LOG_LEVEL show our records without any logging set-up -------------

_DECORATED_HANDLER_AGAINST_A_CLOSED_PORT = """
import sys
import instana_serverless as instana

class Context:  # the attributes the runtime's context has
    aws_request_id = "8f5a0a6c-2b1e-4c3e-9b5e-0d5f3f1d7c11"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders:live"
    function_name = "orders"
    function_version = "7"
    memory_limit_in_mb = "128"
    client_context = None
    def get_remaining_time_in_millis(self):
        return 30_000

@instana.lambda_handler
def handler(event, context):
    return {"statusCode": 200}

handler({}, Context())
print("logging imported:", "logging" in sys.modules)
"""


def _run_decorated_handler(
    extra_env: dict[str, str], endpoint: Optional[str] = None
) -> subprocess.CompletedProcess[str]:
    from demo.harness import free_port
    from tests.conftest import AGENT_KEY

    env = {k: v for k, v in os.environ.items() if not k.startswith(("INSTANA_", "AWS_"))}
    env.update(
        {
            # by default nothing listens there
            "INSTANA_ENDPOINT_URL": endpoint or f"http://127.0.0.1:{free_port()}",
            "INSTANA_AGENT_KEY": AGENT_KEY,
            "INSTANA_TIMEOUT": "300",
            **extra_env,
        }
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(
        [sys.executable, "-c", _DECORATED_HANDLER_AGAINST_A_CLOSED_PORT],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_instana_debug_prints_the_failed_flush_on_stderr() -> None:
    result = _run_decorated_handler({"INSTANA_DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert "flush failed after" in result.stderr and "kept for the next flush" in result.stderr
    assert "DEBUG instana_serverless" in result.stderr
    assert result.stderr.count("flush failed after") == 1  # one handler, no duplicates
    assert result.stderr.count("spans cannot be delivered") == 1


def test_instana_log_level_info_shows_info_but_not_debug() -> None:
    result = _run_decorated_handler({"INSTANA_LOG_LEVEL": "info"})
    assert result.returncode == 0, result.stderr
    assert "INFO instana_serverless: instana-serverless " in result.stderr  # the config line
    assert "flush failed" not in result.stderr and "DEBUG" not in result.stderr
    assert "WARNING instana_serverless: spans cannot be delivered" in result.stderr


def test_without_the_variables_a_failing_backend_prints_one_warning() -> None:
    result = _run_decorated_handler({})
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("spans cannot be delivered to http://127.0.0.1:")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_without_the_variables_a_healthy_backend_prints_nothing_nor_imports_logging(
    acceptor: Acceptor,
) -> None:
    result = _run_decorated_handler({}, endpoint=acceptor.url)
    assert result.returncode == 0, result.stderr
    assert len(acceptor.bundles) == 1
    assert result.stderr == ""
    assert "logging imported: False" in result.stdout


def test_stderr_handler_only_on_our_logger_and_silent_once_the_app_configures_logging(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    root.handlers[:] = []
    log.apply(resolve(environ={"INSTANA_DEBUG": "true"}))
    ours = logging.getLogger(OURS)
    assert len(ours.handlers) == 1 and root.handlers == []
    log.apply(resolve(environ={"INSTANA_DEBUG": "true"}))  # re-configured: still one
    assert len(ours.handlers) == 1
    log.logger().debug("first")
    assert "first" in capsys.readouterr().err

    # The application configures logging afterwards: its handler alone emits our records.
    collected = Collect()
    root.addHandler(collected)
    log.logger().debug("second")
    assert "second" not in capsys.readouterr().err
    assert [r.getMessage() for r in collected.records] == ["second"]


def test_no_stderr_handler_when_the_app_has_one_or_nothing_was_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    collected = Collect()
    logging.getLogger().addHandler(collected)
    log.apply(resolve(environ={"INSTANA_LOG_LEVEL": "debug"}))
    log.logger().debug("once")
    assert [r.getMessage() for r in collected.records] == ["once"]
    assert "once" not in capsys.readouterr().err
    log.apply(resolve(environ={}))  # no explicit level any more: the handler goes
    assert logging.getLogger(OURS).handlers == []


def test_no_logging_import_for_dropped_records_but_errors_still_show() -> None:
    code = (
        "import sys\n"
        "from instana_serverless import log\n"
        "from instana_serverless.config import resolve\n"
        "log.apply(resolve(environ={}))\n"
        "log.logger().debug('hidden %s', 1); log.logger().warning('hidden too')\n"
        "assert 'logging' not in sys.modules\n"
        "assert not log.logger().isEnabledFor(10)\n"
        "log.logger().error('shown %s', 2)\n"
        "assert log.logger().name == 'instana_serverless'\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "shown 2\n"
