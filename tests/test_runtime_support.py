"""Outdated runtime: one WARNING at startup on a Python past its end of life, a doctor line, and
the exact version in the runtime snapshot."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Iterator, List

import pytest

from instana_serverless import doctor, runtime_support
from instana_serverless.metrics.python_runtime import PythonRuntimePlugin
from tests.conftest import AGENT_KEY
from tests.test_layer_runtimes import find_python

TODAY = (2026, 12, 1)


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    runtime_support._reset_for_tests()
    yield
    runtime_support._reset_for_tests()


@pytest.mark.parametrize(
    ("version", "eol"),
    [((3, 8), "2024-10-07"), ((3, 9), "2025-10-31"), ((3, 10), "2026-10-31")],
)
def test_versions_past_their_end_of_life_are_named_with_the_date(
    version: tuple[int, int], eol: str
) -> None:
    message = runtime_support.outdated_message(version, TODAY)
    assert message is not None
    assert f"Python {version[0]}.{version[1]} reached its end of life on {eol}" in message


@pytest.mark.parametrize("version", [(3, 11), (3, 12), (3, 13), (3, 14)])
def test_supported_versions_are_not_flagged(version: tuple[int, int]) -> None:
    assert runtime_support.outdated_message(version, TODAY) is None


def test_the_end_of_life_day_itself_is_still_supported() -> None:
    assert runtime_support.outdated_message((3, 10), (2026, 10, 31)) is None
    assert runtime_support.outdated_message((3, 10), (2026, 11, 1)) is not None
    assert runtime_support.outdated_message((3, 6), TODAY) is not None  # older than the table


def test_one_warning_at_startup_even_under_the_default_level(
    all_logs: List[logging.LogRecord],
) -> None:
    later = (2099, 1, 1)  # every Python in the table is past its end of life by then
    runtime_support.warn_if_outdated(today=later)
    runtime_support.warn_if_outdated(today=later)
    warnings = [r for r in all_logs if "reached its end of life" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert runtime_support.exact_version() in warnings[0].getMessage()


@pytest.mark.parametrize("version", ["3.9", "3.10", "3.11"])
def test_a_real_interpreter_warns_at_startup_only_when_outdated(version: str) -> None:
    """This machine's clock is past 3.9's and 3.10's end of life, not 3.11's."""
    python = find_python(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTANA_")}
    env.update(
        {
            "PYTHONPATH": root,
            "INSTANA_ENDPOINT_URL": "http://127.0.0.1:9",
            "INSTANA_AGENT_KEY": AGENT_KEY,
        }
    )
    code = (
        "import instana_serverless as i\n"
        "i.configure(); i.configure()\n"
        "from instana_serverless.metrics.python_runtime import PythonRuntimePlugin\n"
        "print(PythonRuntimePlugin()()['data']['snapshot']['version'])\n"
    )
    result = subprocess.run(
        [python, "-B", "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    eol = runtime_support.end_of_life((3, int(version.split(".")[1])))
    expected = runtime_support.outdated_message((3, int(version.split(".")[1])), exact="X")
    if expected is None:
        assert "end of life" not in result.stderr
    else:
        assert result.stderr.count("reached its end of life") == 1, result.stderr
        assert f"Python {result.stdout.strip()} reached its end of life on {eol}" in result.stderr
    assert result.stdout.strip().startswith(version + ".")


def test_doctor_shows_the_outdated_runtime() -> None:
    old = doctor.Section("platform", "Platform")
    doctor.check_python(old, (3, 9), TODAY)
    [finding] = old.findings
    assert finding.level == doctor.WARN and "2025-10-31" in finding.text
    current = doctor.Section("platform", "Platform")
    doctor.check_python(current, (3, 12), TODAY)
    assert current.findings[0].level == doctor.OK
    assert current.findings[0].text == "Python 3.12, supported until 2028-10-31"
    report = doctor.diagnose({}, network=False)
    section = report.section("platform")
    assert section is not None and section.data["python"] == runtime_support.exact_version()


def test_runtime_snapshot_carries_the_exact_version() -> None:
    snapshot = PythonRuntimePlugin()()["data"]["snapshot"]
    assert snapshot["version"] == sys.version.split()[0]
