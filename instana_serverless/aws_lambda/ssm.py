"""The agent key from SSM Parameter Store (``INSTANA_SSM_PARAM_NAME``, ``INSTANA_SSM_DECRYPTION``),
so it never sits in the function's environment or template.

One ``GetParameter`` call (the AWS JSON protocol: ``POST /`` with
``X-Amz-Target: AmazonSSM.GetParameter``), signed with SigV4 (``transport/sigv4.py``) from the
role credentials Lambda puts in the environment, sent over our own HTTP client; boto3 is never
imported. It runs on a thread of its own, started when the handler is wrapped (the init
phase): the main thread pays for starting a thread, nothing else. The client's first flush
waits for the answer (at most ``INSTANA_TIMEOUT``). A failure is logged once, at ERROR, with
the parameter's name and AWS's error code; tracing then stays off and the function runs as
if we were not there.
"""

from __future__ import annotations

import os

from .. import log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

    from ..client import Client
    from ..pending_key import PendingKey

NAME_VARIABLE = "INSTANA_SSM_PARAM_NAME"
DECRYPTION_VARIABLE = "INSTANA_SSM_DECRYPTION"
TARGET = "AmazonSSM.GetParameter"
# How long the fetch itself may take: an init phase has 10 s, a flush waits INSTANA_TIMEOUT.
FETCH_TIMEOUT_S = 5.0


class SsmError(Exception):
    """GetParameter failed; ``code`` is AWS's error code (``ParameterNotFound``,
    ``AccessDeniedException``) or ours for what failed before AWS answered."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


def endpoint_url(environ: Mapping[str, str], region: str) -> str:
    """Where SSM answers: ``AWS_ENDPOINT_URL_SSM``, then ``AWS_ENDPOINT_URL`` (as the AWS
    SDKs read them: a VPC endpoint, an emulator), else the region's public endpoint."""
    for variable in ("AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL"):
        value = (environ.get(variable) or "").strip()
        if value:
            return value
    return f"https://ssm.{region}.amazonaws.com"


def _between(text: str, start: str, end: str) -> str:
    _, found, rest = text.partition(start)
    return rest.partition(end)[0] if found else ""


def _error_of(status: int, body: bytes) -> SsmError:
    """AWS's error code and message: JSON (``__type``, ``message``) as SSM answers, or the
    XML ``<Code>``/``<Message>`` some front ends (and emulators) answer with."""
    import json

    text = body.decode("utf-8", "replace")
    code = message = ""
    if text.lstrip().startswith("<"):
        code = _between(text, "<Code>", "</Code>")
        message = _between(text, "<Message>", "</Message>")
    else:
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        if isinstance(answer, dict):
            code = str(answer.get("__type") or "").rpartition("#")[2]
            message = str(answer.get("message") or answer.get("Message") or "")
    return SsmError(code.strip() or f"HTTP{status}", message.strip()[:300])


def fetch(
    name: str, decrypt: bool, environ: Mapping[str, str], timeout_s: float = FETCH_TIMEOUT_S
) -> str:
    """The parameter's value; ``SsmError`` says why not."""
    import json
    from time import monotonic

    from ..transport.endpoint import EndpointError
    from ..transport.http import HttpTransport, TransportError
    from ..transport.sigv4 import Credentials, sign

    region = (environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "").strip()
    if not region:
        raise SsmError("MissingRegion", "AWS_REGION is not set")
    credentials = Credentials.from_environ(environ)
    if credentials is None:
        raise SsmError(
            "MissingCredentials", "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set"
        )
    url = endpoint_url(environ, region)
    try:
        transport = HttpTransport(url, headers={})
    except EndpointError as exc:
        message = str(exc).replace("INSTANA_ENDPOINT_URL", "the SSM endpoint")
        raise SsmError("InvalidEndpoint", message) from None
    body = json.dumps({"Name": name, "WithDecryption": bool(decrypt)}).encode("utf-8")
    headers = sign(
        "POST",
        transport.host_header,
        "/",
        body,
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET},
        credentials=credentials,
        region=region,
        service="ssm",
    )
    try:
        status = transport.post("", body, headers, monotonic() + timeout_s)
        answer = transport.last_body
    except TransportError as exc:
        raise SsmError("RequestFailed", f"{url}: {exc}") from None
    finally:
        transport.close()
    if status != 200:
        raise _error_of(status, answer)
    try:
        parameter = json.loads(answer.decode("utf-8"))["Parameter"]
        value, kind = parameter["Value"], parameter.get("Type")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SsmError("MalformedResponse", "no Parameter.Value in the answer") from None
    if kind == "SecureString" and not decrypt:
        # SSM hands out the ciphertext, which the backend would refuse on every flush
        raise SsmError(
            "NotDecrypted", f"the parameter is a SecureString: set {DECRYPTION_VARIABLE}=true"
        )
    if not isinstance(value, str) or not value.strip():
        raise SsmError("EmptyParameter", "the parameter holds no key")
    return value.strip()


def _run(pending: PendingKey, name: str, decrypt: bool) -> None:
    try:
        pending.resolve(fetch(name, decrypt, os.environ))
    except SsmError as exc:
        log.logger().error(
            "instana_serverless: the agent key could not be read from SSM parameter %r "
            "(%s): %s; tracing is off, the function runs untraced",
            name,
            exc.code,
            exc.message or "no details",
        )
        pending.fail(exc.code)
    except BaseException as exc:  # our bug: the key never comes, the function runs on
        log.logger().error(
            "instana_serverless: the agent key could not be read from SSM parameter %r "
            "(%s); tracing is off",
            name,
            type(exc).__name__,
        )
        pending.fail(type(exc).__name__)


def start_early() -> None:
    """``start_for`` the process's client, from the layer before it loads the user's module:
    the request's round trip then overlaps the user's own init. Never raises."""
    try:
        from ..client import get_client

        start_for(get_client())
    except Exception as exc:
        log.logger().debug("SSM key fetch not started: %r", exc)


def fetch_for(client: Client) -> None:
    """``start_for`` as an ``after_configure`` hook."""
    start_for(client)


def start_for(client: Client) -> bool:
    """Start fetching ``client``'s agent key if it waits for one from SSM (once per client);
    True when a fetch is under way. Never raises."""
    pending = client.pending_key
    name = client.config.ssm_param_name
    if pending is None or pending.started or not name:
        return False
    pending.started = True
    try:
        import _thread

        _thread.start_new_thread(_run, (pending, name, client.config.ssm_decryption))
    except Exception as exc:
        pending.fail(type(exc).__name__)
        log.logger().error("instana_serverless: could not start the SSM key fetch: %r", exc)
        return False
    return True
