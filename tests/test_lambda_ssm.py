"""The agent key from SSM Parameter Store (``INSTANA_SSM_PARAM_NAME``) against moto's server,
with IAM enforced: moto checks our SigV4 signature against the role credentials and the
role's policy (a role without ``ssm:GetParameter`` is denied). The function runs on the real
``awslambdaric`` against our Runtime API emulator, and never imports boto3."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List

import boto3
import pytest

import instana_serverless as instana
from demo.harness import free_port, wait_for_port
from demo.lambda_runtime import RuntimeAPI, start_runtime
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import ssm
from instana_serverless.transport.sigv4 import Credentials, sign
from tests.conftest import span_name

REGION = "eu-central-1"  # the region start_runtime gives the function
KEY = "ssm-agent-key-5e1f"
SECURE = "/instana/agent-key"
PLAIN = "/instana/agent-key-plain"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# What template.yaml grants the function's role.
READ_KEY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"},
    ],
}


class Aws:
    def __init__(self, url: str, allowed: Dict[str, str], denied: Dict[str, str]) -> None:
        self.url = url
        self.allowed = allowed  # role credentials as Lambda sets them, with ssm:GetParameter
        self.denied = denied  # a role without it


def role_environ(url: str, credentials: Dict[str, str]) -> Dict[str, str]:
    return {
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SSM": url,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


@pytest.fixture(scope="module")
def aws() -> Iterator[Aws]:
    """moto's server in a process of its own (IAM enforcement is process-wide in moto)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, "moto", timeout=30.0)
        url = f"http://127.0.0.1:{port}"
        setup = {
            "endpoint_url": url,
            "region_name": REGION,
            "aws_access_key_id": "admin",
            "aws_secret_access_key": "admin",
        }
        client = boto3.client("ssm", **setup)
        client.put_parameter(Name=SECURE, Value=KEY, Type="SecureString")
        client.put_parameter(Name=PLAIN, Value=KEY + "-plain", Type="String")
        iam = boto3.client("iam", **setup)
        sts = boto3.client("sts", **setup)
        roles = {}
        for role, policy in (("reads-key", READ_KEY), ("no-access", None)):
            iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
            if policy is not None:
                iam.put_role_policy(
                    RoleName=role, PolicyName="key", PolicyDocument=json.dumps(policy)
                )
            roles[role] = sts.assume_role(
                RoleArn=f"arn:aws:iam::123456789012:role/{role}", RoleSessionName="function"
            )["Credentials"]
        # From here on moto checks every request's signature and the caller's policies.
        urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/moto-api/reset-auth",
                data=b"0",
                method="POST",
                headers={"Content-Type": "text/plain"},
            ),
            timeout=10,
        ).read()
        yield Aws(
            url,
            {k: str(v) for k, v in roles["reads-key"].items()},
            {k: str(v) for k, v in roles["no-access"].items()},
        )
    finally:
        proc.terminate()
        proc.wait(10)


# -- the signer -------------------------------------------------------------------------------


def test_the_signature_is_the_one_botocore_computes() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    body = b'{"Name":"/x","WithDecryption":true}'
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": ssm.TARGET}
    request = AWSRequest(method="POST", url="https://ssm.eu-west-1.amazonaws.com/", data=body)
    for name, value in headers.items():
        request.headers[name] = value
    SigV4Auth(BotoCredentials("AKIDEXAMPLE", "secret/key", "token"), "ssm", "eu-west-1").add_auth(
        request
    )
    import calendar
    import time

    when = calendar.timegm(time.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
    ours = sign(
        "POST",
        "ssm.eu-west-1.amazonaws.com",
        "/",
        body,
        headers,
        credentials=Credentials("AKIDEXAMPLE", "secret/key", "token"),
        region="eu-west-1",
        service="ssm",
        now=when,
    )
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Security-Token"] == "token"
    assert "secret/key" not in repr(Credentials("AKIDEXAMPLE", "secret/key", None))


# -- GetParameter against moto ----------------------------------------------------------------


def test_a_securestring_is_read_decrypted(aws: Aws) -> None:
    environ = role_environ(aws.url, aws.allowed)
    assert ssm.fetch(SECURE, True, environ) == KEY
    # without decryption SSM hands out the ciphertext, which is no agent key
    with pytest.raises(ssm.SsmError) as raised:
        ssm.fetch(SECURE, False, environ)
    assert raised.value.code == "NotDecrypted" and ssm.DECRYPTION_VARIABLE in str(raised.value)


def test_a_string_parameter_is_read(aws: Aws) -> None:
    assert ssm.fetch(PLAIN, False, role_environ(aws.url, aws.allowed)) == KEY + "-plain"


def test_a_missing_parameter_names_aws_error_code(aws: Aws) -> None:
    with pytest.raises(ssm.SsmError) as raised:
        ssm.fetch("/instana/no-such-key", True, role_environ(aws.url, aws.allowed))
    assert raised.value.code == "ParameterNotFound"


def test_a_role_without_access_is_denied(aws: Aws) -> None:
    with pytest.raises(ssm.SsmError) as raised:
        ssm.fetch(SECURE, True, role_environ(aws.url, aws.denied))
    assert raised.value.code == "AccessDenied"
    assert "ssm:GetParameter" in raised.value.message


def test_a_wrong_secret_fails_the_signature_check(aws: Aws) -> None:
    environ = {**role_environ(aws.url, aws.allowed), "AWS_SECRET_ACCESS_KEY": "wrong"}
    with pytest.raises(ssm.SsmError) as raised:
        ssm.fetch(SECURE, True, environ)
    assert raised.value.code == "SignatureDoesNotMatch"


def test_missing_credentials_or_region_are_named() -> None:
    with pytest.raises(ssm.SsmError) as raised:
        ssm.fetch(SECURE, True, {"AWS_REGION": REGION})
    assert raised.value.code == "MissingCredentials"
    with pytest.raises(ssm.SsmError) as raised:
        ssm.fetch(SECURE, True, {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    assert raised.value.code == "MissingRegion"


# -- the client waits for the key -------------------------------------------------------------


def key_client(
    acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch, environ: Dict[str, str], **more: str
) -> instana.Client:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return instana.configure(
        environ={
            "INSTANA_ENDPOINT_URL": acceptor.url,
            "INSTANA_SSM_PARAM_NAME": SECURE,
            "INSTANA_SSM_DECRYPTION": "true",
            **more,
        }
    )


def test_the_first_flush_waits_for_the_key(
    aws: Aws, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepting = Acceptor(key=KEY)
    with accepting:
        client = key_client(accepting, monkeypatch, role_environ(aws.url, aws.allowed))
        try:
            assert client.tracing and client.pending_key is not None
            # a Lambda wrapper made earlier in this process starts it on configure()
            ssm.start_for(client)
            assert client.pending_key.started and not ssm.start_for(client)  # once per client
            with instana.entry_span("job", flush=False):
                pass
            assert client.flush()
            assert client.agent_key == KEY
            assert [span_name(s) for s in accepting.spans()] == ["job"]
            assert {r["headers"]["x-instana-key"] for r in accepting.requests} == {KEY}
        finally:
            instana.configure(environ={})


def test_a_failure_is_one_error_and_tracing_goes_off(
    aws: Aws,
    acceptor: Acceptor,
    monkeypatch: pytest.MonkeyPatch,
    all_logs: List[logging.LogRecord],
) -> None:
    client = key_client(acceptor, monkeypatch, role_environ(aws.url, aws.denied))
    try:
        ssm.start_for(client)
        assert client.pending_key is not None and client.pending_key.started
        with instana.entry_span("job", flush=False):
            pass
        assert client.flush()  # nothing left that could ever be sent
        assert not client.tracing and len(client.buffer) == 0
        errors = [r.getMessage() for r in all_logs if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert SECURE in errors[0] and "AccessDenied" in errors[0]
        assert client.flush() and acceptor.requests == []
        with instana.entry_span("later"):
            pass
        assert acceptor.requests == []
    finally:
        instana.configure(environ={})


def test_an_explicit_agent_key_wins(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    client = instana.configure(
        environ={
            "INSTANA_ENDPOINT_URL": "http://127.0.0.1:9",
            "INSTANA_AGENT_KEY": "explicit",
            "INSTANA_SSM_PARAM_NAME": SECURE,
        }
    )
    try:
        assert client.pending_key is None and client.agent_key == "explicit"
        assert not ssm.start_for(client)
    finally:
        instana.configure(environ={})


# -- on the real Lambda runtime ---------------------------------------------------------------

APP = """\
import sys


def handle(event, context):
    return {"boto3": "boto3" in sys.modules, "botocore": "botocore" in sys.modules}
"""


def run_function(
    tmp_path: Path, acceptor: Acceptor, environ: Dict[str, str], expect_spans: bool
) -> tuple[Any, List[Dict[str, Any]], str]:
    (tmp_path / "app.py").write_text(APP)
    with RuntimeAPI() as api:
        proc = start_runtime(
            api,
            "instana_serverless.lambda_layer.handler",
            code_dir=tmp_path,
            env={
                "LAMBDA_HANDLER": "app.handle",
                "INSTANA_ENDPOINT_URL": acceptor.url,
                "INSTANA_SSM_PARAM_NAME": SECURE,
                "INSTANA_SSM_DECRYPTION": "true",
                # the flush after the response waits this long for the key at most: moto with
                # IAM checks on a loaded test machine can take longer than the default 500 ms
                "INSTANA_TIMEOUT": "5000",
                **environ,
            },
        )
        try:
            invocation = api.invoke({})
            # the sandbox freezes once the flush after the response is over (key or no key)
            assert invocation.frozen.wait(15), "the sandbox was never frozen"
            spans = acceptor.wait_for_spans(1, timeout=10) if expect_spans else []
        finally:
            proc.terminate()
            output = proc.communicate(timeout=10)[0]
    return invocation, spans, output


def test_a_function_reads_its_key_from_a_securestring(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Acceptor(key=KEY) as acceptor:
        invocation, spans, output = run_function(
            tmp_path, acceptor, role_environ(aws.url, aws.allowed), expect_spans=True
        )
        requests = list(acceptor.requests)
    assert invocation.outcome == "response", output
    assert invocation.body == {"boto3": False, "botocore": False}
    assert [s["n"] for s in spans] == ["aws.lambda.entry"], output
    assert requests and {r["headers"]["x-instana-key"] for r in requests} == {KEY}


def test_a_function_whose_key_cannot_be_read_runs_untraced(aws: Aws, tmp_path: Path) -> None:
    with Acceptor(key=KEY) as acceptor:
        environ = role_environ(aws.url, aws.allowed)
        invocation, _spans, output = run_function(
            tmp_path,
            acceptor,
            {**environ, "INSTANA_SSM_PARAM_NAME": "/instana/gone"},
            expect_spans=False,
        )
        requests = list(acceptor.requests)
    assert invocation.outcome == "response", output
    assert invocation.body == {"boto3": False, "botocore": False}
    assert requests == []
    errors = [line for line in output.splitlines() if "could not be read from SSM" in line]
    assert len(errors) == 1, repr(output)
    assert "/instana/gone" in errors[0] and "ParameterNotFound" in errors[0]


# -- the doctor -------------------------------------------------------------------------------


def doctor_environ(acceptor: Acceptor, aws: Aws, credentials: Dict[str, str]) -> Dict[str, str]:
    return {
        "AWS_LAMBDA_FUNCTION_NAME": "orders",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "INSTANA_ENDPOINT_URL": acceptor.url,
        "INSTANA_SSM_PARAM_NAME": SECURE,
        "INSTANA_SSM_DECRYPTION": "true",
        **role_environ(aws.url, credentials),
    }


def test_the_doctor_reads_the_key_and_sends_the_test_bundle_with_it(aws: Aws) -> None:
    from instana_serverless import doctor

    with Acceptor(key=KEY) as acceptor:
        report = doctor.diagnose(doctor_environ(acceptor, aws, aws.allowed))
    section = report.section("ssm")
    assert section is not None and section.data["read"] is True
    assert [f.level for f in section.findings] == [doctor.OK]
    endpoint = report.section("endpoint")
    assert endpoint is not None and endpoint.data["status"] in (200, 204)
    # the key itself is never shown
    assert KEY not in doctor.render_json(report) and KEY not in doctor.render_text(report)


def test_the_doctor_names_a_missing_permission(aws: Aws) -> None:
    from instana_serverless import doctor

    with Acceptor(key=KEY) as acceptor:
        report = doctor.diagnose(doctor_environ(acceptor, aws, aws.denied))
    section = report.section("ssm")
    assert section is not None and section.data["error"] == "AccessDenied"
    (finding,) = section.findings
    assert finding.level == doctor.FAIL and "ssm:GetParameter" in finding.text
    assert not report.ok


def test_outside_the_lambda_wrappers_the_parameter_is_not_waited_for(
    acceptor: Acceptor, all_logs: List[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    from instana_serverless import client as client_module

    # as in a process where no Lambda wrapper ever ran (one made by an earlier test would
    # start the fetch on every configure())
    hooks = [hook for hook in client_module._after_configure if hook is not ssm.fetch_for]
    monkeypatch.setattr(client_module, "_after_configure", hooks)
    client = instana.configure(
        environ={"INSTANA_ENDPOINT_URL": acceptor.url, "INSTANA_SSM_PARAM_NAME": SECURE}
    )
    try:
        with instana.entry_span("job"):  # flushes when it ends: no fetch was ever started
            pass
        assert not client.tracing and acceptor.requests == []
        errors = [r.getMessage() for r in all_logs if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "INSTANA_AGENT_KEY" in errors[0], errors
    finally:
        instana.configure(environ={})
