"""The settings table is the one place a setting is declared: ``Options``, the resolver, the
doctor and the README are each checked against it here."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from instana_serverless import doctor, settings
from instana_serverless.config import Options, resolve_quietly

ROOT = Path(__file__).resolve().parent.parent

# The span filter row stands for a family of variables: one of its members is set.
FILTER_MEMBER = "INSTANA_TRACING_FILTER_EXCLUDE_GETS_ATTRIBUTES"
CONFIG_FILE = ROOT / "tests" / "filter_config.yaml"


def _env_name(variable: str) -> str:
    return FILTER_MEMBER if variable == settings.FILTER_VARIABLES else variable


# variable -> (environment value, Config attribute, its value from the environment,
#              Options field, Options value, the Config value from that Options value)
EXAMPLES: Dict[str, Tuple[str, str, Any, str, Any, Any]] = {
    "INSTANA_ENDPOINT_URL": (
        "https://env.example",
        "endpoint_url",
        "https://env.example",
        "endpoint_url",
        "https://code.example",
        "https://code.example",
    ),
    "INSTANA_AGENT_KEY": ("env-key", "agent_key", "env-key", "agent_key", "code-key", "code-key"),
    "INSTANA_TIMEOUT": ("700", "timeout_s", 0.7, "timeout_ms", 900, 0.9),
    "INSTANA_ENDPOINT_PROXY": (
        "http://proxy.env:3128",
        "endpoint_proxy",
        "http://proxy.env:3128",
        "endpoint_proxy",
        "http://proxy.code:3128",
        "http://proxy.code:3128",
    ),
    "INSTANA_DISABLE_CA_CHECK": (
        "true",
        "disable_ca_check",
        True,
        "disable_ca_check",
        False,
        False,
    ),
    "INSTANA_EXTRA_HTTP_HEADERS": (
        "X-A;X-B",
        "extra_http_headers",
        ("x-a", "x-b"),
        "extra_http_headers",
        ["X-C"],
        ("x-c",),
    ),
    "INSTANA_SECRETS": (
        "equals:pw",
        "secrets",
        "equals:pw",
        "secrets",
        "contains:tok",
        "contains:tok",
    ),
    "INSTANA_SERVICE_NAME": (
        "env-svc",
        "service_name",
        "env-svc",
        "service_name",
        "code-svc",
        "code-svc",
    ),
    "INSTANA_PROCESS_NAME": (
        "env-proc",
        "process_name",
        "env-proc",
        "process_name",
        "code-proc",
        "code-proc",
    ),
    "INSTANA_ZONE": ("env-zone", "zone", "env-zone", "zone", "code-zone", "code-zone"),
    "INSTANA_TAGS": ("a=b", "tags", {"a": "b"}, "tags", {"c": None}, {"c": None}),
    "INSTANA_TRACING_DISABLE": (
        "redis",
        "disabled_instrumentations",
        frozenset({"redis"}),
        "disabled_instrumentations",
        ["logging"],
        frozenset({"logging"}),
    ),
    "INSTANA_DISABLE_W3C_TRACE_CORRELATION": (
        "true",
        "disable_w3c_trace_correlation",
        True,
        "disable_w3c_trace_correlation",
        False,
        False,
    ),
    "INSTANA_DEBUG": ("true", "debug", True, "debug", False, False),
    "INSTANA_LOG_LEVEL": ("warn", "log_level", 30, "log_level", "info", 20),
    "INSTANA_AUTO_PROFILE": ("true", "auto_profile", True, "auto_profile", False, False),
    "INSTANA_AUTO_PROFILE_INTERVAL_MS": (
        "20",
        "auto_profile_interval_ms",
        20,
        "auto_profile_interval_ms",
        5,
        5,
    ),
    "INSTANA_AUTO_PROFILE_MIN_MS": ("50", "auto_profile_min_ms", 50, "auto_profile_min_ms", 0, 0),
    "INSTANA_AUTO_PROFILE_MIN_PERCENT": (
        "25",
        "auto_profile_min_percent",
        25,
        "auto_profile_min_percent",
        1,
        1,
    ),
    "INSTANA_LAMBDA_TIMEOUT_MARGIN_MS": (
        "50",
        "timeout_margin_ms",
        50,
        "timeout_margin_ms",
        75,
        75,
    ),
    "INSTANA_LAMBDA_EXTENSION": (
        "false",
        "lambda_extension",
        False,
        "lambda_extension",
        True,
        True,
    ),
    "INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED": (
        "true",
        "cloud_run_cpu_always_allocated",
        True,
        "cloud_run_cpu_always_allocated",
        False,
        False,
    ),
    "INSTANA_KAFKA_HEADER_FORMAT": (
        "Binary",
        "kafka_header_format",
        "binary",
        "kafka_header_format",
        "both",
        "both",
    ),
    "INSTANA_KAFKA_TRACE_CORRELATION": (
        "false",
        "kafka_trace_correlation",
        False,
        "kafka_trace_correlation",
        True,
        True,
    ),
    "INSTANA_STACK_TRACE": ("error", "stack_trace", "error", "stack_trace", "none", "none"),
    "INSTANA_STACK_TRACE_LENGTH": (
        "12",
        "stack_trace_length",
        12,
        "stack_trace_length",
        50,
        40,  # capped at the official limit
    ),
    settings.FILTER_VARIABLES: (
        "type;redis|redis.command;GET",
        "span_filter",
        "exclude 'GETS': type;redis;strict and redis.command;GET;strict "
        "(with downstream suppression)",
        "span_filters",
        {"exclude": [{"name": "logs", "attributes": [{"key": "type", "values": ["log"]}]}]},
        "exclude 'logs': type;log;strict (with downstream suppression)",
    ),
    "INSTANA_CONFIG_PATH": (
        str(CONFIG_FILE),
        "span_filter",
        "exclude 'Cache reads': redis.command;GET,MGET;strict",
        "span_filters",
        {"exclude": [{"name": "logs", "attributes": [{"key": "type", "values": ["log"]}]}]},
        "exclude 'logs': type;log;strict (with downstream suppression)",
    ),
    "INSTANA_SSM_PARAM_NAME": (
        "/env/key",
        "ssm_param_name",
        "/env/key",
        "ssm_param_name",
        "/code/key",
        "/code/key",
    ),
    "INSTANA_SSM_DECRYPTION": ("true", "ssm_decryption", True, "ssm_decryption", False, False),
    "INSTANA_ALLOW_EXIT_AS_ROOT": (
        "true",
        "allow_exit_as_root",
        True,
        "allow_exit_as_root",
        False,
        False,
    ),
}


def _comparable(value: Any) -> Any:
    from instana_serverless.secrets import SecretsMatcher
    from instana_serverless.span_filter import SpanFilter

    if isinstance(value, SecretsMatcher):
        return f"{value.mode}:{','.join(value.keywords)}"
    if isinstance(value, SpanFilter):
        return value.describe()
    return value


def _option_fields() -> set[str]:
    return {field for row in settings.SETTINGS for field in row.options}


def test_options_has_a_field_for_every_row_and_no_other() -> None:
    assert set(Options.__slots__) == _option_fields()
    parameters = set(inspect.signature(Options.__init__).parameters) - {"self"}
    assert parameters == _option_fields()


def test_every_variable_has_an_example_here() -> None:
    declared = {row.variable for row in settings.SETTINGS if row.variable}
    assert set(EXAMPLES) == declared


@pytest.mark.parametrize("variable", sorted(EXAMPLES))
def test_the_resolver_reads_the_variable(variable: str) -> None:
    env_value, attr, expected, _field, _value, _from_code = EXAMPLES[variable]
    config, warnings = resolve_quietly(None, {_env_name(variable): env_value})
    assert warnings == []
    assert _comparable(getattr(config, attr)) == expected


@pytest.mark.parametrize("variable", sorted(EXAMPLES))
def test_the_precedence_is_the_rows(variable: str) -> None:
    env_value, attr, from_env, field, value, from_code = EXAMPLES[variable]
    config, _ = resolve_quietly(Options(**{field: value}), {_env_name(variable): env_value})
    wanted = from_env if settings.by_variable(variable).env_wins else from_code
    assert _comparable(getattr(config, attr)) == wanted


def test_the_doctor_knows_every_variable_and_lists_every_setting() -> None:
    assert set(doctor.KNOWN_VARIABLES) == set(settings.variables())
    environ = {_env_name(variable): example[0] for variable, example in EXAMPLES.items()}
    section, _config, _endpoint = doctor.check_settings(environ, "unknown")
    listed = {finding.name for finding in section.findings}
    assert set(EXAMPLES) <= listed


def test_the_readme_table_is_generated_from_the_rows() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "tables.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for variable in settings.variables():
        assert f"`{variable}`" in readme
