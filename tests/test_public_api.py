"""The package's public names, and that importing it loads no platform code."""

from __future__ import annotations

import instana_serverless
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY, free_port
from tests.modules import modules_loaded_by


def test_every_public_name_resolves_to_something_callable() -> None:
    for name in instana_serverless.__all__:
        value = getattr(instana_serverless, name)
        assert value is not None, name
        if name != "__version__":
            assert callable(value), name
    assert sorted(dir(instana_serverless)) == sorted(instana_serverless.__all__)


def test_unknown_names_raise_attribute_error() -> None:
    try:
        instana_serverless.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_lazy_names_are_the_platform_objects() -> None:
    from instana_serverless.azure import azure_function
    from instana_serverless.fargate import start
    from instana_serverless.platform import detect

    assert instana_serverless.azure_function is azure_function
    assert instana_serverless.start_fargate_reporter is start
    assert instana_serverless.detect_platform is detect


def test_package_import_loads_no_platform_and_no_heavy_module() -> None:
    platforms = ("aws_lambda", "azure", "gcp", "fargate", "middleware", "instrumentation")
    heavy = ("logging", "typing", "threading", "http.client", "ssl", "json", "boto3", "requests")
    loaded = modules_loaded_by(
        "import instana_serverless",
        names=(*heavy, "importlib.abc"),
        prefixes=tuple(f"instana_serverless.{name}" for name in platforms),
    )
    assert loaded == []


def test_configure_without_filter_rules_loads_no_filter_or_yaml_code() -> None:
    loaded = modules_loaded_by(
        "import instana_serverless as instana\n"
        "instana.configure(instana.Options(endpoint_url='http://127.0.0.1:9', agent_key='k'),"
        " environ={'INSTANA_TIMEOUT': '300'})",
        names=("instana_serverless.span_filter", "instana_serverless.yaml_subset", "yaml"),
        prefixes=(),
    )
    assert loaded == []


# Code for other cases than a delivered cold start without filter rules: each is imported on
# first use only (a platform's send rule, the configuration line at INFO, a key fetched from
# SSM, Cloud Run's sender thread, a failed delivery, filter rules).
ONLY_WHEN_NEEDED = (
    "instana_serverless.sending",
    "instana_serverless.configuration_line",
    "instana_serverless.pending_key",
    "instana_serverless.background_sender",
    "instana_serverless.delivery_log",
    "instana_serverless.span_filter",
)


def _cold_start(url: str, environ: str = "{}") -> str:
    return (
        "import instana_serverless as instana\n"
        f"instana.configure(instana.Options(endpoint_url={url!r}, agent_key={AGENT_KEY!r}),"
        f" environ={environ})\n"
        "with instana.entry_span('cold'):\n"
        "    pass\n"
    )


def test_a_delivered_cold_start_loads_no_code_of_the_other_cases(acceptor: Acceptor) -> None:
    loaded = modules_loaded_by(_cold_start(acceptor.url), names=ONLY_WHEN_NEEDED)
    assert loaded == []
    assert [span["n"] for span in acceptor.spans()] == ["sdk"]  # the flush did happen


def test_the_code_of_the_other_cases_loads_when_its_case_comes(acceptor: Acceptor) -> None:
    info = _cold_start(acceptor.url, "{'INSTANA_LOG_LEVEL': 'info'}")
    assert modules_loaded_by(info, names=ONLY_WHEN_NEEDED) == [
        "instana_serverless.configuration_line",
        "instana_serverless.sending",  # the line says which rule sends
    ]
    unreachable = _cold_start(f"http://127.0.0.1:{free_port()}", "{'INSTANA_TIMEOUT': '300'}")
    assert modules_loaded_by(unreachable, names=ONLY_WHEN_NEEDED) == [
        "instana_serverless.delivery_log"
    ]
