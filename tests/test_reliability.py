"""Defects found by hostile testing (issue 12): each test failed on the code before its fix.

One bad value must never hold other spans back; the user's exception always reaches the caller;
the agent key and other credentials never reach a log line or a snapshot.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import math
from typing import Any, Dict, Iterator, List, Optional

import azure.functions as func
import pytest
from werkzeug.test import Client as WerkzeugClient
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.azure import azure_function
from instana_serverless.client import Client
from instana_serverless.config import Config, resolve_quietly
from instana_serverless.http_data import captured_headers, http_entry_data
from instana_serverless.metrics import process
from instana_serverless.metrics.process import masked_environment, process_plugin
from instana_serverless.middleware import ASGIMiddleware, WSGIMiddleware
from instana_serverless.reporter import EncodingProblems, encode_bundles
from instana_serverless.secrets import DEFAULT_SECRETS, MASK, mask_header, mask_url_credentials
from tests.conftest import AGENT_KEY, configure_for, free_port, span_name
from tests.lambda_fixtures import load_event, make_context
from tests.test_azure_support import WorkerContext, http_request, index_app, invoke


@pytest.fixture(autouse=True)
def unconfigured_afterwards() -> Iterator[None]:
    yield
    instana.configure(environ={})


def statuses(acceptor: Acceptor) -> List[int]:
    return [request["status"] for request in acceptor.requests]


# -- 1. one unencodable span blocks every later flush ---------------------------------------


def test_unencodable_tag_is_repaired_and_never_holds_other_spans_back(
    client: Client, acceptor: Acceptor, all_logs: List[logging.LogRecord]
) -> None:
    for _ in range(2):
        tags = {"by_day": {datetime.date(2024, 1, 1): 3}}
        with instana.entry_span("job", flush=False), instana.span("s", tags=tags):
            pass
        assert instana.flush() is True
    with instana.entry_span("later"):
        pass
    assert statuses(acceptor) == [204, 204, 204]
    spans = acceptor.spans()
    assert [span_name(s) for s in spans].count("s") == 2 and span_name(spans[-1]) == "later"
    sdk = next(s for s in spans if span_name(s) == "s")
    assert sdk["data"]["sdk"]["custom"]["tags"]["by_day"] == {"2024-01-01": 3}
    warnings = [r for r in all_logs if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "the reason is logged once at WARNING, not on every flush"
    assert "keys must be str" in warnings[0].getMessage()
    assert client.reporter.repaired_spans == 2 and client.reporter.unencodable_spans == 0


def test_span_that_cannot_be_repaired_is_dropped_and_counted(
    client: Client, acceptor: Acceptor
) -> None:
    with instana.entry_span("job", flush=False):
        # More digits than Python converts to text: neither encodable nor repairable.
        with instana.span("huge", tags={"n": 10**5000}):
            pass
        with instana.span("fine"):
            pass
    assert instana.flush() is True
    assert sorted(span_name(s) for s in acceptor.spans()) == ["fine", "job"]
    assert client.reporter.unencodable_spans == 1
    assert len(client.buffer) == 0, "a dropped span is not requeued forever"


def test_split_bundles_account_for_dropped_spans() -> None:
    def wire(i: int, value: Any) -> Dict[str, Any]:
        return {"t": "a" * 16, "s": f"{i:016x}", "ts": 1, "d": 0, "n": "x", "k": 3, "data": value}

    spans = [wire(i, {"blob": "x" * 900}) for i in range(30)]
    spans[7]["data"] = {"n": 10**5000}
    spans[29]["data"] = {"n": 10**5000}
    problems = EncodingProblems()
    bodies = encode_bundles(spans, [], limit=4000, problems=problems)
    assert len(bodies) > 1 and problems.dropped == 2
    assert sum(count for _, count in bodies) == len(spans), "requeue indexes stay right"
    sent = [s["s"] for body, _ in bodies for s in json.loads(body)["spans"]]
    assert sent == [s["s"] for i, s in enumerate(spans) if i not in (7, 29)]


# -- 2. NaN / Infinity made a bundle invalid JSON --------------------------------------------


def test_non_finite_floats_are_sent_as_strings(client: Client, acceptor: Acceptor) -> None:
    client.reporter.plugin_sources.append(
        lambda: {"name": "com.example.ratio", "entityId": "1", "data": {"ratio": math.nan}}
    )
    data = {"a": math.nan, "b": math.inf, "c": -math.inf}  # the SDK span's tags
    with instana.entry_span("floats", data=data):
        pass
    assert statuses(acceptor) == [204], "the strict acceptor refuses bare NaN tokens with 400"
    (span,) = acceptor.spans()
    assert span["data"]["sdk"]["custom"]["tags"] == {"a": "NaN", "b": "Infinity", "c": "-Infinity"}
    plugins = {p["name"]: p for p in acceptor.bundles[0]["metrics"]["plugins"]}
    assert plugins["com.example.ratio"]["data"] == {"ratio": "NaN"}


# -- 3. an exception whose __str__ raises replaced the user's exception ---------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot render")


RENDERED = "Unprintable: <exception message could not be rendered>"


def only_entry(acceptor: Acceptor, name: str) -> Dict[str, Any]:
    entries = [s for s in acceptor.spans() if span_name(s) == name]
    assert len(entries) == 1, acceptor.spans()
    return entries[0]


def test_lambda_handler_reraises_the_users_exception(client: Client, acceptor: Acceptor) -> None:
    error = Unprintable()

    @instana.lambda_handler
    def handler(event: Any, context: Any) -> Any:
        raise error

    with pytest.raises(Unprintable) as raised:
        handler(load_event("api_gateway_rest"), make_context())
    assert raised.value is error
    span = only_entry(acceptor, "aws.lambda.entry")
    assert span["ec"] == 1 and span["data"]["lambda"]["error"] == RENDERED


def test_entry_span_reraises_the_users_exception(client: Client, acceptor: Acceptor) -> None:
    with pytest.raises(Unprintable), instana.entry_span("job"):
        raise Unprintable()
    entry = only_entry(acceptor, "job")
    assert entry["n"] == "sdk"
    assert entry["data"]["sdk"]["custom"]["tags"]["error"] == RENDERED


def test_azure_function_reraises_the_users_exception(
    client: Client, acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_SITE_NAME", "orders-app")
    app = func.FunctionApp()

    @app.route(route="orders")
    @azure_function
    def orders(req: func.HttpRequest) -> func.HttpResponse:
        raise Unprintable()

    @app.route(route="later")
    @azure_function
    async def later(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        raise Unprintable()

    functions = index_app(app)
    for name in ("orders", "later"):
        with pytest.raises(Unprintable):
            invoke(functions[name], http_request(), context=WorkerContext(name))
    entries = [s for s in acceptor.spans() if span_name(s) == "azf"]
    assert [s["data"]["azf"]["error"] for s in entries] == [RENDERED, RENDERED]


def test_wsgi_and_asgi_middleware_reraise_and_send_the_span(
    client: Client, acceptor: Acceptor
) -> None:
    def wsgi_app(environ: Any, start_response: Any) -> Any:
        raise Unprintable()

    with pytest.raises(Unprintable):
        WerkzeugClient(WSGIMiddleware(wsgi_app, flush=True)).get("/w")
    assert only_entry(acceptor, "wsgi")["data"]["http"]["error"] == RENDERED

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        raise Unprintable()

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/a", "headers": [], "query_string": b""}
    with pytest.raises(Unprintable):
        asyncio.run(ASGIMiddleware(asgi_app, flush=True)(scope, receive, send))
    assert only_entry(acceptor, "asgi")["data"]["http"]["error"] == RENDERED


def test_cloud_run_reraises_the_users_exception(client: Client, acceptor: Acceptor) -> None:
    from instana_serverless.gcp import cloud_run, runtime
    from instana_serverless.gcp.runtime import CloudRunInstance

    runtime._reset_for_tests(CloudRunInstance({}))
    try:

        @cloud_run
        def hello(request: Any) -> str:
            raise Unprintable()

        with pytest.raises(Unprintable):
            hello(Request(EnvironBuilder(path="/c").get_environ()))
    finally:
        runtime._reset_for_tests(None)
    assert only_entry(acceptor, "wsgi")["data"]["http"]["error"] == RENDERED


# -- 6a / 7. the agent key and proxy credentials never reach any output ---------------------

SECRET = "sk-AGENT-4f9d2c7e81b3"


def closed_port_url(scheme: str = "http", userinfo: str = "") -> str:
    return f"{scheme}://{userinfo}127.0.0.1:{free_port()}"


def leak_configurations(acceptor_url: str) -> List[Dict[str, str]]:
    """Environments where the key (or a proxy password equal to it) sits somewhere it may be
    quoted back: pasted into the endpoint URL, the proxy URL, or other settings."""
    base = {"INSTANA_AGENT_KEY": SECRET, "INSTANA_DEBUG": "true"}
    return [
        {**base, "INSTANA_ENDPOINT_URL": SECRET},
        {**base, "INSTANA_ENDPOINT_URL": f"http://backend.example.com/{SECRET}"},
        {**base, "INSTANA_ENDPOINT_URL": f"https://backend.example.com:{SECRET}/"},
        {**base, "INSTANA_ENDPOINT_URL": f"{acceptor_url}/{SECRET}?key={SECRET}"},
        {**base, "INSTANA_ENDPOINT_URL": closed_port_url("https", f"user:{SECRET}@")},
        {**base, "INSTANA_ENDPOINT_URL": closed_port_url(), "INSTANA_ENDPOINT_PROXY": SECRET},
        {**base, "INSTANA_ENDPOINT_URL": acceptor_url, "INSTANA_TIMEOUT": SECRET},
        {**base, "INSTANA_ENDPOINT_URL": acceptor_url, "INSTANA_LOG_LEVEL": SECRET},
        {**base, "INSTANA_ENDPOINT_URL": acceptor_url, "INSTANA_SECRETS": SECRET},
        {
            **base,
            "INSTANA_ENDPOINT_URL": acceptor_url,
            "INSTANA_ENDPOINT_PROXY": f"socks5://me:{SECRET}@127.0.0.1:1",
        },
        {
            **base,
            "INSTANA_ENDPOINT_URL": acceptor_url,
            "INSTANA_ENDPOINT_PROXY": f"http://me:{SECRET}@127.0.0.1:99999",
        },
        {
            **base,
            "INSTANA_ENDPOINT_URL": closed_port_url(),
            "INSTANA_ENDPOINT_PROXY": closed_port_url("http", f"me:{SECRET}@"),
        },
        {**base, "INSTANA_ENDPOINT_URL": closed_port_url(), "INSTANA_TIMEOUT": "50"},
    ]


def test_agent_key_never_appears_in_any_output(
    acceptor: Acceptor, capfd: pytest.CaptureFixture[str]
) -> None:
    handler_records: List[logging.LogRecord] = []

    class Everything(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(record)

    shown_configs: List[str] = []
    ours = logging.getLogger("instana_serverless")
    handler = Everything(level=logging.DEBUG)
    ours.addHandler(handler)
    try:
        for env in leak_configurations(acceptor.url):
            client = instana.configure(environ=env)
            with instana.entry_span("job", data={"config": {"repr": "x"}}):
                pass
            instana.flush()
            shown_configs.append(repr(client.config))

            @instana.lambda_handler
            def handler_fn(event: Any, context: Any) -> Dict[str, int]:
                return {"statusCode": 200}

            handler_fn(load_event("api_gateway_rest"), make_context())
    finally:
        ours.removeHandler(handler)
    assert len(handler_records) > 10, "the configurations above must produce log output"
    formatter = logging.Formatter()
    for record in handler_records:
        text = record.getMessage()
        if record.exc_info:
            text += formatter.formatException(record.exc_info)
        assert SECRET not in text, text
    captured = capfd.readouterr()
    assert SECRET not in captured.out and SECRET not in captured.err
    assert SECRET not in json.dumps(acceptor.bundles)
    for shown in shown_configs:
        assert SECRET not in shown


def test_options_and_config_reprs_hide_the_key_and_url_credentials() -> None:
    options = instana.Options(
        agent_key=SECRET,
        endpoint_url=f"https://backend.example.com/{SECRET}",
        endpoint_proxy="http://me:pw-77@proxy:3128",
    )
    config = Config(
        agent_key=SECRET, endpoint_url=options.endpoint_url, endpoint_proxy=options.endpoint_proxy
    )
    for shown in (repr(options), repr(config)):
        assert SECRET not in shown and "pw-77" not in shown
        assert "proxy:3128" in shown and "backend.example.com" in shown


def test_invalid_proxy_is_a_configuration_warning_and_requests_go_direct(
    acceptor: Acceptor, all_logs: List[logging.LogRecord]
) -> None:
    env = {
        "INSTANA_ENDPOINT_URL": acceptor.url,
        "INSTANA_AGENT_KEY": AGENT_KEY,
        "INSTANA_ENDPOINT_PROXY": "socks5://me:pw-9f8e@127.0.0.1:1080",
    }
    client = instana.configure(environ=env)
    assert client.config.endpoint_proxy is None
    (warning,) = [r.getMessage() for r in all_logs if r.levelno == logging.WARNING]
    assert "INSTANA_ENDPOINT_PROXY" in warning and "pw-9f8e" not in warning
    assert "socks5://<redacted>@127.0.0.1:1080" in warning
    with instana.entry_span("direct"):
        pass
    assert [span_name(s) for s in acceptor.spans()] == ["direct"]

    config, warnings = resolve_quietly(instana.Options(endpoint_proxy="ftp://a:pw-9f8e@h"), {})
    assert config.endpoint_proxy is None and len(warnings) == 1
    assert "Options.endpoint_proxy" in warnings[0] and "pw-9f8e" not in warnings[0]


# -- 8. the process snapshot copied sys.argv unmasked ---------------------------------------


def test_process_snapshot_masks_arguments_like_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv = [
        "/usr/bin/gunicorn",
        "--env",
        f"INSTANA_AGENT_KEY={SECRET}",
        "--env=DB_PASSWORD=hunter2",
        "--password",
        "hunter3",
        "--api-key=hunter4",
        "KEY=hunter5",
        "DATABASE_URL=postgres://app:hunter6@db:5432/app",
        f"--note={SECRET}",
        "-w",
        "4",
        "app:server",
    ]
    # The snapshot reads the command line from /proc where it can; feed it ours instead.
    monkeypatch.setattr(process, "_command_args", lambda: argv[1:])
    config = Config(agent_key=SECRET)
    plugin = process_plugin(config, environ={"DATABASE_URL": "postgres://app:hunter7@db/app"})
    text = json.dumps(plugin)
    for secret in (SECRET, "hunter2", "hunter3", "hunter4", "hunter5", "hunter6", "hunter7"):
        assert secret not in text, secret
    args = plugin["data"]["args"]
    assert f"INSTANA_AGENT_KEY={MASK}" in args and "--password" in args
    assert "DATABASE_URL=postgres://<redacted>@db:5432/app" in args
    assert args[-3:] == ["-w", "4", "app:server"], "ordinary arguments are kept as they are"
    assert plugin["data"]["env"]["DATABASE_URL"] == "postgres://<redacted>@db/app"


# -- secrets policy: captured headers and URLs ----------------------------------------------


def test_captured_headers_follow_the_secrets_policy(client: Client, acceptor: Acceptor) -> None:
    configure_for(
        acceptor,
        extra_http_headers=[
            "X-Api-Key",
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "X-Forwarded-For",
            "X-Callback",
        ],
    )

    def app(environ: Any, start_response: Any) -> Any:
        return Response("ok")(environ, start_response)

    environ = EnvironBuilder(
        path="/",
        headers={
            "X-Api-Key": "k-123",
            "Authorization": "Bearer eyJhbGciOi",
            "Proxy-Authorization": "Basic dXNlcjpwdw==",
            "Cookie": "session=abc123; theme=dark",
            "X-Forwarded-For": "203.0.113.7",
            "X-Callback": "https://hook:tok-55@example.com/cb",
        },
    ).get_environ()
    body = WSGIMiddleware(app, flush=True)(environ, lambda status, headers, *exc: None)
    assert b"".join(body) == b"ok"
    getattr(body, "close", lambda: None)()
    (span,) = acceptor.spans()
    assert span["data"]["http"]["header"] == {
        "x-api-key": MASK,
        "authorization": f"Bearer {MASK}",
        "proxy-authorization": f"Basic {MASK}",
        "cookie": f"session={MASK}; theme={MASK}",
        "x-forwarded-for": "203.0.113.7",
        "x-callback": f"https://{MASK}@example.com/cb",
    }


def test_set_cookie_keeps_only_cookie_names() -> None:
    config = Config(extra_http_headers=("set-cookie",))
    headers = {"Set-Cookie": ["id=a3f; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Secure", "t=x"]}
    assert captured_headers(headers, config) == {"set-cookie": f"id={MASK},t={MASK}"}
    assert mask_header("Set-Cookie", "id=a3f; Path=/, t=x; HttpOnly", DEFAULT_SECRETS) == (
        f"id={MASK}; t={MASK}"
    )


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgres://user:pw@db:5432/app", f"postgres://{MASK}@db:5432/app"),
        ("https://token@github.com/o/r.git", f"https://{MASK}@github.com/o/r.git"),
        ("redis://:pw@r1:6379,redis://:pw@r2", f"redis://{MASK}@r1:6379,redis://{MASK}@r2"),
        ("amqp://u:p@ss@mq/vhost", f"amqp://{MASK}@mq/vhost"),
        ("https://registry.npmjs.org/@types/node", "https://registry.npmjs.org/@types/node"),
        ("mailto user@example.com", "mailto user@example.com"),
        ("plain", "plain"),
    ],
)
def test_mask_url_credentials(text: str, masked: str) -> None:
    assert mask_url_credentials(text) == masked


def test_recorded_urls_and_environment_lose_their_credentials() -> None:
    config = Config()
    data = http_entry_data(config, method="get", url="http://u:pw@host/path?x=1")
    assert data["url"] == f"http://{MASK}@host/path"
    env = masked_environment({"BROKER": "amqp://guest:guest2@mq:5672/"}, config)
    assert env == {"BROKER": f"amqp://{MASK}@mq:5672/"}


def endpoint_warning(env: Dict[str, str]) -> Optional[str]:
    records: List[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    ours = logging.getLogger("instana_serverless")
    keep = Keep()
    ours.addHandler(keep)
    try:
        instana.configure(environ=env)
    finally:
        ours.removeHandler(keep)
    return records[0] if records else None


def test_endpoint_warning_names_the_problem_without_the_key() -> None:
    warning = endpoint_warning({"INSTANA_AGENT_KEY": SECRET, "INSTANA_ENDPOINT_URL": SECRET})
    assert warning is not None and "INSTANA_ENDPOINT_URL must be an https:// URL" in warning
    assert SECRET not in warning


@pytest.mark.parametrize("pasted", [SECRET, f"https://{SECRET}", f"http://{SECRET}"])
def test_swapped_key_and_endpoint_never_show_the_key(
    pasted: str, capfd: pytest.CaptureFixture[str], all_logs: List[logging.LogRecord]
) -> None:
    """The agent key pasted into INSTANA_ENDPOINT_URL (the two variables swapped): no log line
    at any level, nor the doctor, quotes it; the warning says what looks wrong."""
    from instana_serverless import doctor

    env = {
        "INSTANA_ENDPOINT_URL": pasted,
        "INSTANA_AGENT_KEY": "https://serverless-blue-saas.instana.io",
        "INSTANA_DEBUG": "true",
    }
    for environ in (env, {**env, "INSTANA_AGENT_KEY": "another-key"}):
        instana.configure(environ=environ)
        with instana.entry_span("job"):
            pass
        instana.flush()
        print(doctor.render_text(doctor.diagnose(environ, network=True)))
    messages = [record.getMessage() for record in all_logs]
    assert any("swapped" in message for message in messages), messages
    captured = capfd.readouterr()
    assert "Result:" in captured.out  # the doctor ran
    for text in (*messages, captured.out, captured.err):
        assert SECRET not in text, text
