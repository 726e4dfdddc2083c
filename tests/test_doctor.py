"""``instana-serverless doctor`` against real endpoints on loopback and real handler modules."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from instana_serverless import config, doctor
from instana_serverless.acceptor.server import Acceptor
from tests.conftest import AGENT_KEY, free_port
from tests.tls_ca import BundleBackend, make_self_signed

ROOT = Path(__file__).resolve().parent.parent
LAYER_HANDLER = "instana_serverless.lambda_layer.handler"
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "orders",
    "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    "_HANDLER": LAYER_HANDLER,
}


def env_for(url: str, key: Optional[str] = AGENT_KEY, **extra: str) -> Dict[str, str]:
    env = {"INSTANA_ENDPOINT_URL": url, **extra}
    if key is not None:
        env["INSTANA_AGENT_KEY"] = key
    return env


def findings(report: doctor.Report, section: str, level: Optional[str] = None) -> List[str]:
    found = report.section(section)
    assert found is not None, f"no {section} section"
    return [f.text for f in found.findings if level is None or f.level == level]


def one(texts: List[str], needle: str) -> str:
    matching = [text for text in texts if needle in text]
    assert len(matching) == 1, f"{needle!r} in {texts}"
    return matching[0]


# --- the endpoint, over real sockets ---------------------------------------------------------


def test_healthy_configuration_sends_a_valid_empty_bundle(acceptor: Acceptor) -> None:
    report = doctor.diagnose(env_for(acceptor.url))
    assert report.exit_code == 0, doctor.render_text(report)
    assert [s.name for s in report.sections] == [
        "platform",
        "configuration",
        "endpoint",
        "instrumentation",
    ]
    assert report.count(doctor.FAIL) == report.count(doctor.WARN) == 0
    endpoint = report.section("endpoint")
    assert endpoint is not None and endpoint.data["status"] == 204
    assert 0 <= endpoint.data["elapsed_ms"] < 500
    one(findings(report, "endpoint", doctor.OK), f"POST {acceptor.url}/bundle answered HTTP 204")
    # The acceptor validated it as a bundle, and it came with the key and a host id.
    assert acceptor.bundles == [{"spans": [], "metrics": {"plugins": []}}]
    headers = acceptor.requests[0]["headers"]
    assert headers["x-instana-key"] == AGENT_KEY
    assert headers["x-instana-host"] == doctor.TEST_HOST_ID
    text = doctor.render_text(report)
    assert text.endswith("Result: tracing can work\n")
    assert "Platform\n" in text and "Configuration\n" in text and "Endpoint\n" in text
    assert text.isascii()


def test_wrong_key_is_rejected_with_401(acceptor: Acceptor) -> None:
    report = doctor.diagnose(env_for(acceptor.url, key="not-the-right-key"))
    assert report.exit_code == 1
    failure = one(findings(report, "endpoint", doctor.FAIL), "HTTP 401")
    assert "rejected the agent key" in failure and "INSTANA_AGENT_KEY" in failure


def test_connection_refused() -> None:
    port = free_port()
    report = doctor.diagnose(env_for(f"http://127.0.0.1:{port}"))
    assert report.exit_code == 1
    one(
        findings(report, "endpoint", doctor.FAIL),
        f"connection refused: nothing listens at 127.0.0.1:{port}",
    )


def test_server_error() -> None:
    with Acceptor(key=AGENT_KEY, status_override=500) as failing:
        report = doctor.diagnose(env_for(failing.url))
    assert report.exit_code == 1
    failure = one(findings(report, "endpoint", doctor.FAIL), "answered HTTP 500")
    assert "the backend failed" in failure


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_endpoint_that_hangs_past_the_timeout(silent_server: str) -> None:
    report = doctor.diagnose(env_for(silent_server, INSTANA_TIMEOUT="200"))
    assert report.exit_code == 1
    failure = one(findings(report, "endpoint", doctor.FAIL), "no answer within 200 ms")
    assert "INSTANA_TIMEOUT" in failure
    endpoint = report.section("endpoint")
    assert endpoint is not None and 150 <= endpoint.data["elapsed_ms"] < 1500


def test_bundle_goes_through_the_configured_proxy(acceptor: Acceptor) -> None:
    # Nothing listens at the endpoint itself: only the proxy (here the acceptor, which takes
    # the absolute-form request a plain http proxy gets) can have answered.
    env = env_for(f"http://127.0.0.1:{free_port()}", INSTANA_ENDPOINT_PROXY=acceptor.url)
    report = doctor.diagnose(env)
    assert report.exit_code == 0, doctor.render_text(report)
    assert len(acceptor.bundles) == 1


def test_untrusted_certificate_and_the_ca_check_switch(tmp_path: Path) -> None:
    backend = BundleBackend(*make_self_signed(tmp_path))
    try:
        url = f"https://localhost:{backend.port}"
        untrusted = doctor.diagnose(env_for(url))
        unchecked = doctor.diagnose(env_for(url, INSTANA_DISABLE_CA_CHECK="true"))
    finally:
        backend.close()
    failure = one(findings(untrusted, "endpoint", doctor.FAIL), "certificate")
    assert "is not trusted" in failure and "INSTANA_DISABLE_CA_CHECK" in failure
    assert unchecked.exit_code == 0, doctor.render_text(unchecked)
    one(findings(unchecked, "endpoint", doctor.OK), "answered HTTP 204")
    one(findings(unchecked, "configuration", doctor.WARN), "verification is OFF")


@pytest.mark.parametrize(
    ("status", "level", "words"),
    [
        (202, doctor.OK, "accepted"),
        (301, doctor.FAIL, "redirect"),
        (403, doctor.FAIL, "rejected the agent key"),
        (404, doctor.FAIL, "no bundle resource"),
        (429, doctor.WARN, "busy"),
        (400, doctor.FAIL, "refused the test bundle"),
        (503, doctor.FAIL, "backend failed"),
    ],
)
def test_status_explanations(status: int, level: str, words: str) -> None:
    assert doctor.explain_status(status)[0] == level
    assert words in doctor.explain_status(status)[1]


def test_no_network_skips_the_test_bundle(acceptor: Acceptor) -> None:
    report = doctor.diagnose(env_for(acceptor.url), network=False)
    assert report.exit_code == 0
    one(findings(report, "endpoint", doctor.INFO), "skipped (--no-network)")
    assert acceptor.requests == []


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        (env_for("https://serverless.example.com", key=None), "INSTANA_AGENT_KEY not set"),
        ({"INSTANA_AGENT_KEY": AGENT_KEY}, "INSTANA_ENDPOINT_URL not set"),
        ({}, "INSTANA_ENDPOINT_URL and INSTANA_AGENT_KEY not set"),
    ],
)
def test_missing_endpoint_or_key_fails(env: Dict[str, str], missing: str) -> None:
    report = doctor.diagnose(env)
    assert report.exit_code == 1
    assert "nothing can be reported" in one(findings(report, "configuration", doctor.FAIL), missing)
    one(findings(report, "endpoint", doctor.INFO), "test bundle skipped")


def test_plain_http_to_a_remote_host_fails_without_sending_the_key() -> None:
    report = doctor.diagnose(env_for("http://serverless.example.com"))
    assert report.exit_code == 1
    failure = one(findings(report, "configuration", doctor.FAIL), "plain http://")
    assert "https://" in failure and "'serverless.example.com'" in failure
    one(findings(report, "endpoint", doctor.INFO), "test bundle skipped")


def test_plain_http_to_loopback_is_noted_not_failed(acceptor: Acceptor) -> None:
    report = doctor.diagnose(env_for(acceptor.url), network=False)
    one(findings(report, "configuration", doctor.INFO), "loopback host")


def test_invalid_timeout_warns_with_the_resolver_text_and_still_works(acceptor: Acceptor) -> None:
    report = doctor.diagnose(env_for(acceptor.url, INSTANA_TIMEOUT="soon"))
    assert report.exit_code == 0, doctor.render_text(report)
    warning = one(findings(report, "configuration", doctor.WARN), "INSTANA_TIMEOUT")
    assert warning.startswith("Invalid value for INSTANA_TIMEOUT: 'soon' (expected an integer")
    assert "using the default 500" in warning
    assert "Result: tracing can work (1 warning)" in doctor.render_text(report)


def test_set_values_are_shown_with_what_they_mean(acceptor: Acceptor) -> None:
    env = env_for(
        acceptor.url,
        INSTANA_TIMEOUT="750",
        INSTANA_TRACING_DISABLE="Requests,boto3",
        INSTANA_DISABLE_CA_CHECK="yes",
        INSTANA_ZONE="eu-shop",
    )
    report = doctor.diagnose(env, network=False)
    texts = findings(report, "configuration")
    one(texts, "INSTANA_TIMEOUT = '750' (750 ms per request)")
    one(texts, "instrumentations switched off: boto3, requests")
    one(texts, "INSTANA_ZONE = 'eu-shop'")
    assert "verification is OFF" in one(findings(report, "configuration", doctor.WARN), "CA_CHECK")
    # Important unset settings are listed with their defaults.
    one(findings(report, "configuration", doctor.INFO), "INSTANA_LOG_LEVEL not set: error")
    section = report.section("configuration")
    assert section is not None and section.data["settings"]["INSTANA_ZONE"] == "eu-shop"


def test_tracing_switched_off_is_a_warning(acceptor: Acceptor) -> None:
    report = doctor.diagnose(env_for(acceptor.url, INSTANA_TRACING_DISABLE="true"), network=False)
    assert report.exit_code == 0
    one(findings(report, "configuration", doctor.WARN), "all tracing is switched off")


def test_unusable_proxy_is_a_warning_and_requests_go_direct() -> None:
    env = env_for(
        "https://serverless.example.com", INSTANA_ENDPOINT_PROXY="socks5://me:pw1@proxy:1080"
    )
    report = doctor.diagnose(env, network=False)
    warning = one(
        findings(report, "configuration", doctor.WARN),
        "Invalid value for INSTANA_ENDPOINT_PROXY: 'socks5://<redacted>@proxy:1080'",
    )
    assert "pw1" not in warning
    assert "pw1" not in json.dumps(report.as_dict())


def test_typo_suggests_the_known_name(acceptor: Acceptor) -> None:
    env = env_for(acceptor.url, INSTANA_ENDPIONT_URL="x", instana_timeout="9", INSTANA_WHATEVER="1")
    report = doctor.diagnose(env, network=False)
    warnings = findings(report, "configuration", doctor.WARN)
    typo = one(warnings, "INSTANA_ENDPIONT_URL is not read by instana-serverless")
    assert typo.endswith("did you mean INSTANA_ENDPOINT_URL?")
    one(
        warnings, "instana_timeout is not read by instana-serverless: did you mean INSTANA_TIMEOUT?"
    )
    one(findings(report, "configuration", doctor.INFO), "INSTANA_WHATEVER is not read")
    assert report.exit_code == 0


def test_known_variables_cover_everything_config_reads() -> None:
    source = Path(config.__file__).read_text()
    read = set(re.findall(r'"(INSTANA_[A-Z_]+)"', source))
    assert read and read <= set(doctor.KNOWN_VARIABLES)


def test_resolver_warnings_are_collected_not_logged(
    acceptor: Acceptor, all_logs: List[logging.LogRecord]
) -> None:
    report = doctor.diagnose(env_for(acceptor.url, INSTANA_TIMEOUT="soon"))
    assert [r for r in all_logs if r.pathname == "(config)"] == []
    one(findings(report, "configuration", doctor.WARN), "Invalid value for INSTANA_TIMEOUT")
    # Reported even where a log level above WARNING would keep the library quiet.
    quiet = doctor.diagnose(
        env_for(acceptor.url, INSTANA_TIMEOUT="soon", INSTANA_LOG_LEVEL="error")
    )
    one(findings(quiet, "configuration", doctor.WARN), "Invalid value for INSTANA_TIMEOUT")
    # Only the doctor keeps them to itself: the library still logs its warnings.
    config.resolve(None, {"INSTANA_TIMEOUT": "soon"})
    assert any("INSTANA_TIMEOUT" in r.getMessage() for r in all_logs)


# --- the agent key ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["Q", "Q7xZ", "Q7xZ9pk", "Q7xZ9pkW", "Q7xZ9pkW3mN8vT2r"])
def test_mask_key_never_shows_the_key(key: str) -> None:
    masked = doctor.mask_key(key)
    assert key not in masked and masked.endswith(f"...({len(key)} chars)")
    # Short keys show nothing at all: two characters would be a large part of them.
    assert masked.startswith("Q7..." if len(key) >= 8 else "...")


def test_agent_key_never_printed_in_full(acceptor: Acceptor) -> None:
    # Also pasted by mistake into other variables, valid and invalid ones.
    env = env_for(
        acceptor.url,
        INSTANA_ZONE=AGENT_KEY,
        INSTANA_TIMEOUT=AGENT_KEY,
        INSTANA_ENDPIONT_URL=AGENT_KEY,
        **LAMBDA_ENV,
        LAMBDA_HANDLER=f"{AGENT_KEY}.handler",
    )
    report = doctor.diagnose(env)
    outputs = doctor.render_text(report) + doctor.render_json(report)
    assert AGENT_KEY not in outputs
    assert doctor.mask_key(AGENT_KEY) in outputs
    endpoint = report.section("endpoint")
    assert endpoint is not None and endpoint.data["status"] == 204  # the real key was sent


def test_endpoint_credentials_are_hidden() -> None:
    env = env_for("https://user:hunter22@serverless.example.com/base")
    report = doctor.diagnose(env, network=False)
    assert "hunter22" not in doctor.render_json(report)
    one(findings(report, "configuration", doctor.OK), "'https://***@serverless.example.com/base'")
    invalid = doctor.diagnose(env_for("https://user:hunter22@serverless.example.com:99999"))
    assert "hunter22" not in doctor.render_json(invalid)
    one(findings(invalid, "configuration", doctor.FAIL), "has an invalid port")


# --- platform --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (LAMBDA_ENV, "AWS Lambda, identified by AWS_LAMBDA_FUNCTION_NAME='orders', "),
        (
            {"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE", "ECS_CONTAINER_METADATA_URI_V4": "http://x"},
            "AWS Fargate, identified by AWS_EXECUTION_ENV='AWS_ECS_FARGATE'",
        ),
        (
            {"K_SERVICE": "shop", "K_REVISION": "shop-1", "K_CONFIGURATION": "shop"},
            "Google Cloud Run, identified by K_SERVICE='shop', K_REVISION='shop-1', ",
        ),
        ({"FUNCTIONS_WORKER_RUNTIME": "python"}, "Azure Functions, identified by FUNCTIONS_"),
        ({}, "generic"),
    ],
)
def test_platform_and_what_identified_it(env: Dict[str, str], expected: str) -> None:
    section = doctor.check_platform(env)
    assert section.findings[0].level == doctor.OK
    assert section.findings[0].text.startswith(expected)


def test_fargate_without_metadata_uri_warns() -> None:
    section = doctor.check_platform({"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"})
    assert "ECS_CONTAINER_METADATA_URI_V4 is not set" in section.findings[1].text


def test_generic_names_partial_platform_variables() -> None:
    section = doctor.check_platform({"K_SERVICE": "shop"})
    assert section.data["platform"] == "generic"
    assert (
        section.findings[1].text == "found K_SERVICE='shop', but not enough to identify a platform"
    )


# --- the Lambda handler ----------------------------------------------------------------------


@pytest.fixture
def task_root(tmp_path: Path) -> Iterator[Path]:
    """A function's code directory with a module named after this test (unique per test)."""
    name = f"doctor_app_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(
        "def handler(event, context):\n    return 'ok'\n\nNOT_CALLABLE = 5\n"
    )
    (tmp_path / f"{name}_broken.py").write_text("raise RuntimeError('no database')\n")
    yield tmp_path / name
    for module in (name, f"{name}_broken"):
        sys.modules.pop(module, None)


def lambda_env(task_root: Path, spec: Optional[str], **extra: str) -> Dict[str, str]:
    env = {**LAMBDA_ENV, "LAMBDA_TASK_ROOT": str(task_root.parent), **extra}
    if spec is not None:
        env["LAMBDA_HANDLER"] = spec
    return env


def test_lambda_handler_that_resolves(task_root: Path) -> None:
    spec = f"{task_root.name}.handler"
    report = doctor.diagnose(lambda_env(task_root, spec), network=False)
    assert [s.name for s in report.sections][-1] == "lambda"
    one(findings(report, "lambda", doctor.OK), "the function handler is the layer's")
    one(findings(report, "lambda", doctor.OK), f"LAMBDA_HANDLER={spec!r} resolves to {spec}")
    section = report.section("lambda")
    assert section is not None and section.data["resolved"] is True
    assert str(task_root.parent) not in sys.path  # the search path is restored


@pytest.mark.parametrize(
    ("suffix", "reason"),
    [
        (None, "LAMBDA_HANDLER is not set: the layer has no handler to call"),
        ("handler", "is not of the form 'module.function'"),
        ("missing_module.handler", "cannot import module"),
        ("{mod}.nothing", "has no 'nothing'"),
        ("{mod}.NOT_CALLABLE", "is not callable"),
        ("{mod}_broken.handler", "importing it raised RuntimeError: no database"),
    ],
)
def test_lambda_handler_that_does_not_resolve(
    task_root: Path, suffix: Optional[str], reason: str
) -> None:
    spec = None if suffix is None else suffix.format(mod=task_root.name)
    report = doctor.diagnose(lambda_env(task_root, spec), network=False)
    assert report.exit_code == 1
    one(findings(report, "lambda", doctor.FAIL), reason)


def test_function_handler_not_the_layer_while_lambda_handler_is_set(task_root: Path) -> None:
    spec = f"{task_root.name}.handler"
    report = doctor.diagnose(lambda_env(task_root, spec, _HANDLER="app.main"), network=False)
    warning = one(findings(report, "lambda", doctor.WARN), "'app.main'")
    assert "LAMBDA_HANDLER is ignored" in warning and LAYER_HANDLER in warning
    one(findings(report, "lambda", doctor.OK), "resolves to")


def test_function_handler_wrapped_in_code_needs_no_lambda_handler(task_root: Path) -> None:
    report = doctor.diagnose(lambda_env(task_root, None, _HANDLER="app.main"), network=False)
    assert report.section("lambda") is not None
    assert findings(report, "lambda", doctor.FAIL) == []
    one(findings(report, "lambda", doctor.INFO), "@instana.lambda_handler")


def test_sending_mode(task_root: Path) -> None:
    spec = f"{task_root.name}.handler"
    on_lambda = lambda_env(task_root, spec, AWS_LAMBDA_RUNTIME_API="127.0.0.1:9001")
    report = doctor.diagnose(on_lambda, network=False)
    mode = one(findings(report, "lambda", doctor.OK), "sending mode: extension")
    assert "Extensions API at 127.0.0.1:9001" in mode and "after the response" in mode
    section = report.section("lambda")
    assert section is not None and section.data["sending_mode"] == "extension"

    off = {**on_lambda, "INSTANA_LAMBDA_EXTENSION": "false"}
    report = doctor.diagnose(off, network=False)
    one(findings(report, "lambda", doctor.INFO), "sending mode: flush before return")
    text = doctor.render_text(report)
    assert "INSTANA_LAMBDA_EXTENSION" in text and "INSTANA_LAMBDA_EXTENSION is off" in text


def test_no_lambda_section_elsewhere(acceptor: Acceptor) -> None:
    report = doctor.diagnose(env_for(acceptor.url), network=False)
    assert report.section("lambda") is None
    assert report.section("cloud_run") is None


def test_cloud_run_sending_mode(acceptor: Acceptor) -> None:
    on_cloud_run = {
        **env_for(acceptor.url),
        "K_SERVICE": "shop",
        "K_REVISION": "shop-1",
        "K_CONFIGURATION": "shop",
    }
    report = doctor.diagnose(on_cloud_run, network=False)
    mode = one(findings(report, "cloud_run", doctor.OK), "sending mode: before each response")
    assert "INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED=true" in mode

    allocated = {**on_cloud_run, "INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED": "true"}
    report = doctor.diagnose(allocated, network=False)
    one(findings(report, "cloud_run", doctor.INFO), "sending mode: after the response")
    section = report.section("cloud_run")
    assert section is not None and section.data["sending_mode"] == "after the response"


# --- output and the real command -------------------------------------------------------------


def test_json_shape(acceptor: Acceptor, task_root: Path) -> None:
    env = {**env_for(acceptor.url), **lambda_env(task_root, f"{task_root.name}.handler")}
    data = json.loads(doctor.render_json(doctor.diagnose(env)))
    assert data["ok"] is True and data["exit_code"] == 0
    assert [s["name"] for s in data["sections"]] == [
        "platform",
        "configuration",
        "endpoint",
        "instrumentation",
        "lambda",
    ]
    for section in data["sections"]:
        assert set(section) == {"name", "title", "findings", "data"}
        for finding in section["findings"]:
            assert finding["level"] in ("ok", "warn", "FAIL", "info")
            assert isinstance(finding["text"], str)
    by_name = {s["name"]: s["data"] for s in data["sections"]}
    assert by_name["platform"]["platform"] == "aws.lambda"
    assert by_name["platform"]["identified_by"]["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert by_name["configuration"]["settings"]["INSTANA_AGENT_KEY"] == doctor.mask_key(AGENT_KEY)
    assert by_name["endpoint"]["status"] == 204
    assert isinstance(by_name["endpoint"]["elapsed_ms"], float)
    assert by_name["endpoint"]["error"] is None
    assert by_name["lambda"]["resolved"] is True


def run_command(
    args: List[str], env: Dict[str, str], script: bool = False
) -> subprocess.CompletedProcess[str]:
    if script:
        command = [str(Path(sys.executable).parent / "instana-serverless"), *args]
    else:
        command = [sys.executable, "-m", "instana_serverless.cli", *args]
    return subprocess.run(
        command,
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_command_exit_codes(acceptor: Acceptor, tmp_path: Path) -> None:
    healthy = run_command(["doctor"], env_for(acceptor.url))
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "Result: tracing can work" in healthy.stdout
    assert AGENT_KEY not in healthy.stdout + healthy.stderr

    wrong_key = run_command(["doctor", "--json"], env_for(acceptor.url, key="wrong-key-1234"))
    assert wrong_key.returncode == 1
    assert json.loads(wrong_key.stdout)["exit_code"] == 1

    usage = run_command(["doctor", "--bogus"], env_for(acceptor.url))
    assert usage.returncode == 2 and "unrecognized arguments" in usage.stderr


def test_console_script_resolves_the_handler_from_pythonpath(tmp_path: Path) -> None:
    (tmp_path / "doctor_pythonpath_app.py").write_text("def main(event, context):\n    pass\n")
    env = {
        **env_for("https://serverless.example.com"),
        **LAMBDA_ENV,
        "PYTHONPATH": str(tmp_path),
        "LAMBDA_HANDLER": "doctor_pythonpath_app.main",
    }
    good = run_command(["doctor", "--no-network"], env, script=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "resolves to doctor_pythonpath_app.main" in good.stdout

    bad = run_command(
        ["doctor", "--no-network"], {**env, "LAMBDA_HANDLER": "doctor_pythonpath_app.gone"}, True
    )
    assert bad.returncode == 1
    assert "module 'doctor_pythonpath_app' has no 'gone'" in bad.stdout


# --- instrumentation -------------------------------------------------------------------------


def test_instrumentation_lists_every_registry_entry_and_flags_unknown_disable_names(
    acceptor: Acceptor,
) -> None:
    from instana_serverless.instrumentation.registry import ENTRIES

    env = env_for(acceptor.url, INSTANA_TRACING_DISABLE="boto3,htpx")
    report = doctor.diagnose(env, network=False)
    section = report.section("instrumentation")
    assert section is not None
    libraries = section.data["libraries"]
    assert sorted(libraries) == sorted(e.name for e in ENTRIES)
    assert libraries["botocore"]["status"] == "disabled"
    assert libraries["httpx"]["status"] in ("traced", "patched")
    assert libraries["httpx"]["installed"] and libraries["httpx"]["version"]
    one(findings(report, "instrumentation", doctor.INFO), "disabled by INSTANA_TRACING_DISABLE")
    warning = one(findings(report, "instrumentation", doctor.WARN), "'htpx'")
    assert "did you mean 'httpx'?" in warning
    assert section.data["unknown_disabled"] == ["htpx"]
    assert report.ok  # a typo warns, it does not fail


def test_instrumentation_reads_versions_without_importing_libraries(acceptor: Acceptor) -> None:
    code = (
        "import json, sys\n"
        "from instana_serverless import doctor\n"
        f"env = {{'INSTANA_ENDPOINT_URL': {acceptor.url!r}, 'INSTANA_AGENT_KEY': 'k'}}\n"
        "report = doctor.diagnose(env, network=False)\n"
        "libraries = report.section('instrumentation').data['libraries']\n"
        "print(json.dumps([libraries, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('httpx', 'urllib3', 'botocore', 'requests', 'boto3'))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    libraries, imported = json.loads(out.stdout.strip().splitlines()[-1])
    assert imported == []
    assert libraries["urllib3"]["status"] == "traced" and libraries["urllib3"]["version"]


def test_a_library_older_than_the_registry_minimum_is_flagged(
    acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor, "_installed_version", lambda entry: (True, "0.0.1"))
    report = doctor.diagnose(env_for(acceptor.url), network=False)
    section = report.section("instrumentation")
    assert section is not None
    from instana_serverless.instrumentation.registry import BY_NAME

    libraries = section.data["libraries"]
    # standard-library rows (http.client, logging) have no minimum: never too old
    assert {v["status"] for n, v in libraries.items() if BY_NAME[n].min_version} == {"too old"}
    one(findings(report, "instrumentation", doctor.WARN), "httpx 0.0.1: older than 0.23")


# --- issue 19: no ok beside a flagged value; one mode per line; settings nothing reads -----


def flagged_names(report: doctor.Report) -> Dict[str, str]:
    """Variable -> its worst level over every section."""
    order = {doctor.INFO: 0, doctor.OK: 0, doctor.WARN: 1, doctor.FAIL: 2}
    worst: Dict[str, str] = {}
    for section in report.sections:
        for finding in section.findings:
            if finding.name and order[finding.level] >= order.get(worst.get(finding.name, ""), 0):
                worst[finding.name] = finding.level
    return worst


def ok_lines_about(report: doctor.Report, name: str) -> List[str]:
    return [
        f.text
        for section in report.sections
        for f in section.findings
        if f.level == doctor.OK and (f.name == name or f.text.startswith(f"{name} ="))
    ]


@pytest.mark.parametrize(
    "extra, name",
    [
        ({"INSTANA_TRACING_DISABLE": "reqeusts,databse"}, "INSTANA_TRACING_DISABLE"),
        ({"INSTANA_ENDPOINT_URL": "http://backend.example.com"}, "INSTANA_ENDPOINT_URL"),
        (
            {"K_SERVICE": "s", "K_REVISION": "s-1", "K_CONFIGURATION": "s", "INSTANA_ZONE": "eu"},
            "INSTANA_ZONE",
        ),
        ({"INSTANA_TAGS": "team=a"}, "INSTANA_TAGS"),
    ],
)
def test_no_ok_beside_a_value_it_flags(extra: Dict[str, str], name: str) -> None:
    env = {**env_for("http://127.0.0.1:1"), **extra}
    report = doctor.diagnose(env, network=False)
    text = doctor.render_text(report)
    assert flagged_names(report)[name] in (doctor.WARN, doctor.FAIL), text
    assert ok_lines_about(report, name) == [], text
    assert f"ok    {name} =" not in text
    # The echo on the setting line is not counted as a second problem.
    problems = [f for s in report.sections for f in s.findings if f.name == name]
    counted = [f for f in problems if f.level in (doctor.WARN, doctor.FAIL) and not f.echo]
    assert len(counted) == 1 or name == "INSTANA_TRACING_DISABLE", text


def test_a_setting_no_code_on_the_platform_reads_is_flagged() -> None:
    cloud_run = {"K_SERVICE": "s", "K_REVISION": "s-1", "K_CONFIGURATION": "s"}
    env = {**env_for("http://127.0.0.1:1"), **cloud_run, "INSTANA_ZONE": "europe-west3"}
    report = doctor.diagnose(env, network=False)
    one(
        findings(report, "configuration", doctor.WARN),
        "INSTANA_ZONE is read only on AWS Fargate: nothing on Google Cloud Run reads it",
    )
    fargate = {**env_for("http://127.0.0.1:1"), "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}
    report = doctor.diagnose({**fargate, "INSTANA_ZONE": "eu-a"}, network=False)
    assert not [t for t in findings(report, "configuration") if "read only on" in t]


def test_each_lambda_sending_mode_line_names_one_mode_with_its_condition() -> None:
    for env in (
        {**LAMBDA_ENV, **env_for("http://127.0.0.1:1")},
        {
            **{k: v for k, v in LAMBDA_ENV.items() if k != "AWS_LAMBDA_RUNTIME_API"},
            **env_for("http://127.0.0.1:1"),
        },
    ):
        report = doctor.diagnose(env, network=False)
        lines = [t for t in findings(report, "lambda") if t.startswith("sending mode")]
        assert len(lines) == 2, lines
        for line in lines:
            modes = [m for m in ("extension", "flush before return") if m in line]
            assert len(modes) == 1, line
            assert " if " in line or " as " in line or " once " in line, line


def sample_variables() -> Dict[str, List[str]]:
    """The environment variables our own deployment samples set, per platform."""
    cloud_run = re.findall(r"- name: (\S+)", (ROOT / "cloudrun" / "service.yaml").read_text())
    template = (ROOT / "template.yaml").read_text()
    lambda_ = re.findall(r"^\s+([A-Z][A-Z0-9_]+):", template, re.MULTILINE)
    azure = list(json.loads((ROOT / "azure" / "local.settings.json.example").read_text())["Values"])
    return {"gcp.cloud_run": cloud_run, "aws.lambda": lambda_, "azure.functions": azure}


def test_our_samples_set_no_setting_their_platform_does_not_read() -> None:
    from instana_serverless.settings import READ_ONLY_ON

    samples = sample_variables()
    assert "INSTANA_AGENT_KEY" in samples["gcp.cloud_run"]
    for platform_name, names in samples.items():
        unread = [n for n in names if READ_ONLY_ON.get(n, platform_name) != platform_name]
        assert unread == [], f"{platform_name} sample sets {unread}"
