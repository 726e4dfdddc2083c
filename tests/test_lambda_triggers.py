"""Every trigger fixture through the real decorator to the real acceptor: trigger name, summary,
masking, truncation and the incoming trace context."""

from __future__ import annotations

import copy
from typing import Any, Dict, Iterator, List

import pytest

import instana_serverless as instana
from instana_serverless.aws_lambda import decorator, lambda_handler, triggers
from instana_serverless.config import Config
from tests.conftest import AGENT_KEY
from tests.lambda_fixtures import load_event, make_context

ELLIPSIS = "\u2026"


@pytest.fixture
def traced(acceptor: Any) -> Iterator[Any]:
    """A client that captures one extra header, against the acceptor."""
    decorator._reset_for_tests()
    yield instana.configure(
        instana.Options(
            endpoint_url=acceptor.url,
            agent_key=AGENT_KEY,
            timeout_ms=500,
            extra_http_headers=["X-Request-Source"],
        ),
        environ={},
    )
    instana.configure(environ={})


def run(acceptor: Any, event: Any, result: Any = None) -> Dict[str, Any]:
    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return copy.deepcopy(result)

    handler(event, make_context())
    spans = acceptor.spans()
    assert len(spans) == 1, spans
    span: Dict[str, Any] = spans[0]
    return span


def test_api_gateway_rest(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("api_gateway_rest"), {"statusCode": 201, "headers": {}})
    assert span["data"]["lambda"]["trigger"] == "aws:api.gateway"
    assert span["data"]["http"] == {
        "method": "GET",
        "url": "/orders/42",
        "path_tpl": "/orders/{id}",
        "host": "1234567890.execute-api.eu-central-1.amazonaws.com",
        "params": "currency=EUR&api_key=<redacted>&tag=red&tag=blue",
        "header": {"x-request-source": "mobile-app"},
        "status": 201,
    }
    assert (span["t"], span["p"]) == ("0000000000001234", "0000000000005678")
    assert span["ec"] == 0


def test_api_gateway_rest_only_multi_value_headers(acceptor: Any, traced: Any) -> None:
    event = load_event("api_gateway_rest")
    del event["headers"]
    span = run(acceptor, event)
    assert span["data"]["http"]["header"] == {"x-request-source": "mobile-app"}
    assert (span["t"], span["p"]) == ("0000000000001234", "0000000000005678")


def test_api_gateway_noproxy(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("api_gateway_noproxy"), {"ok": True})
    assert span["data"]["lambda"]["trigger"] == "aws:api.gateway.noproxy"
    assert span["data"]["http"] == {
        "method": "GET",
        "url": "/orders/42",
        "path_tpl": "/orders/{id}",
        "params": "verbose=true&password=<redacted>",
    }
    assert (span["t"], span["p"]) == ("00000000000000aa", "00000000000000bb")


def test_api_gateway_http_v2(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("api_gateway_http_v2"), "plain body")
    assert span["data"]["lambda"]["trigger"] == "aws:api.gateway"
    assert span["data"]["http"] == {
        "method": "POST",
        "url": "/carts/77/items",
        "path_tpl": "/carts/{cartId}/items",
        "host": "r3pmxmplak.execute-api.eu-central-1.amazonaws.com",
        "params": "source=web&secret=<redacted>&source=app",
        "header": {"x-request-source": "web"},
        "status": 200,  # HTTP API answers 200 for a result without statusCode
    }
    # The context came from traceparent only.
    assert span["t"] == "8448eb211c80319c"
    assert span["lt"] == "0af7651916cd43dd8448eb211c80319c"
    assert span["p"] == "b7ad6b7169203331"
    assert span["tp"] is True


def test_api_gateway_websocket(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("api_gateway_websocket"), {"statusCode": 200})
    assert span["data"]["lambda"]["trigger"] == "aws:api.gateway"
    http = span["data"]["http"]
    assert http["url"] == http["path_tpl"] == "$connect"
    assert http["host"] == "abcd123.execute-api.eu-central-1.amazonaws.com"
    assert http["params"] == "room=lobby&token=t0ken"
    assert http["status"] == 200
    assert span["t"] == "00000000000000c1"


def test_alb_single_value(acceptor: Any, traced: Any) -> None:
    result = {"statusCode": 502, "headers": {"Server-Timing": "db;dur=53"}}
    span = run(acceptor, load_event("alb"), result)
    assert span["data"]["lambda"]["trigger"] == "aws:application.load.balancer"
    assert span["data"]["http"] == {
        "method": "GET",
        "url": "/lambda",
        "params": "query=1234ABCD&passwd=<redacted>",
        "header": {"x-request-source": "alb-test"},
        "status": 502,
        "error": "HTTP 502 Bad Gateway",
    }
    assert span["ec"] == 1
    assert span["data"]["lambda"]["error"] == "HTTP 502 Bad Gateway"
    assert span["t"] == "00000000000000d1"


def test_alb_multi_value(acceptor: Any, traced: Any) -> None:
    returned: Dict[str, Any] = {}

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        returned["result"] = {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a", "b"]}}
        return returned["result"]

    result = handler(load_event("alb_multi_value"), make_context())
    span = acceptor.spans()[0]
    assert span["data"]["lambda"]["trigger"] == "aws:application.load.balancer"
    assert span["data"]["http"] == {
        "method": "POST",
        "url": "/lambda/items",
        "params": "id=1&id=2&secret=<redacted>",
        "header": {"x-request-source": "alb-a,alb-b"},
        "status": 200,
    }
    assert span["t"] == "00000000000000e1"
    # Multi-value responses get the header as a list; no single-value map is invented.
    assert result["multiValueHeaders"]["Server-Timing"] == [f"intid;desc={span['t']}"]
    assert "headers" not in result


def test_function_url(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("function_url"), {"statusCode": 204})
    assert span["data"]["lambda"]["trigger"] == "aws:lambda.function.url"
    assert span["data"]["http"] == {
        "method": "POST",
        "url": "/my/path",
        "host": "abcdefg123.lambda-url.eu-central-1.on.aws",
        "params": "parameter1=value1&parameter1=value2&access_key=<redacted>",
        "header": {"x-request-source": "url-test"},
        "status": 204,
    }
    assert span["t"] == "00000000000000f1"


def test_sqs(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("sqs"))
    lam = span["data"]["lambda"]
    assert lam["trigger"] == "aws:sqs"
    assert lam["sqs"] == {
        "messages": [
            {"queue": "arn:aws:sqs:eu-central-1:123456789012:orders-queue"},
            {"queue": "arn:aws:sqs:eu-central-1:123456789012:orders-queue"},
            {"queue": "arn:aws:sqs:eu-central-1:123456789012:orders-queue-2"},
        ],
        "more": True,
    }
    assert "http" not in span["data"]
    assert (span["t"], span["p"]) == ("0000000000000a01", "0000000000000a02")


def test_sqs_from_sns_subscription(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("sqs_from_sns"))
    assert span["data"]["lambda"]["trigger"] == "aws:sqs"
    assert (span["t"], span["p"]) == ("0000000000000b01", "0000000000000b02")


def test_sns(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("sns"))
    lam = span["data"]["lambda"]
    assert lam["trigger"] == "aws:sns"
    assert lam["sns"] == {
        "messages": [
            {
                "topic": "arn:aws:sns:eu-central-1:123456789012:order-events",
                "subject": "TestInvoke",
                "messageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            }
        ],
        "more": False,
    }
    assert (span["t"], span["p"]) == ("0000000000000c01", "0000000000000c02")


def test_s3_truncates_long_keys(acceptor: Any, traced: Any) -> None:
    event = load_event("s3")
    span = run(acceptor, event)
    lam = span["data"]["lambda"]
    assert lam["trigger"] == "aws:s3"
    first, second = lam["s3"]["events"]
    assert first["event"] == "ObjectCreated:Put"
    assert first["bucket"] == "order-uploads"
    assert len(first["object"]) == 200 and first["object"].endswith(ELLIPSIS)
    assert event["Records"][0]["s3"]["object"]["key"].startswith(first["object"][:-1])
    assert second == {
        "event": "ObjectRemoved:Delete",
        "bucket": "order-uploads",
        "object": "invoices/b.pdf",
    }
    assert lam["s3"]["more"] is False


def test_dynamodb(acceptor: Any, traced: Any) -> None:
    lam = run(acceptor, load_event("dynamodb"))["data"]["lambda"]
    assert lam["trigger"] == "aws:dynamodb"
    assert [e["event"] for e in lam["dynamodb"]["events"]] == ["INSERT", "MODIFY", "REMOVE"]
    assert lam["dynamodb"]["events"][0]["stream"].startswith("arn:aws:dynamodb:")
    assert lam["dynamodb"]["more"] is True


def test_kinesis(acceptor: Any, traced: Any) -> None:
    lam = run(acceptor, load_event("kinesis"))["data"]["lambda"]
    assert lam["trigger"] == "aws:kinesis"
    assert lam["kinesis"] == {
        "events": [
            {
                "event": "aws:kinesis:record",
                "stream": "arn:aws:kinesis:eu-central-1:123456789012:stream/order-stream",
                "partitionKey": "order-42",
            }
        ],
        "more": False,
    }


def test_eventbridge_scheduled(acceptor: Any, traced: Any) -> None:
    lam = run(acceptor, load_event("eventbridge_scheduled"))["data"]["lambda"]
    assert lam["trigger"] == "aws:cloudwatch.events"
    assert lam["cw"]["events"]["id"] == "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c"
    assert lam["cw"]["events"]["resources"] == [
        f"arn:aws:events:eu-central-1:123456789012:rule/nightly-{i}" for i in range(3)
    ]
    assert lam["cw"]["events"]["more"] is True


def test_eventbridge_custom(acceptor: Any, traced: Any) -> None:
    lam = run(acceptor, load_event("eventbridge_custom"))["data"]["lambda"]
    assert lam["trigger"] == "aws:eventbridge"
    assert lam["eventbridge"] == {
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "source": "com.example.orders",
        "detailType": "OrderPlaced",
        "more": False,
    }


def test_cloudwatch_logs_decoded(acceptor: Any, traced: Any) -> None:
    lam = run(acceptor, load_event("cloudwatch_logs"))["data"]["lambda"]
    assert lam["trigger"] == "aws:cloudwatch.logs"
    logs = lam["cw"]["logs"]
    assert logs["group"] == "/aws/lambda/orders"
    assert logs["stream"] == "2024/04/09/[$LATEST]a1b2c3"
    assert logs["events"][0] == "[ERROR] first failure"
    assert len(logs["events"][1]) == 200 and logs["events"][1].endswith(ELLIPSIS)
    assert logs["events"][2] == "third"
    assert logs["more"] is True
    assert "decodingError" not in logs


@pytest.mark.parametrize(
    "payload",
    [
        "H4sIAAAAAAAAAHWPwQqCQBCGX0X2rEtQ2ZIhy/ExNw",  # truncated gzip
        "not base64 at all!",
        12345,
        "",
    ],
)
def test_cloudwatch_logs_decode_failure_is_recorded(
    acceptor: Any, traced: Any, payload: Any
) -> None:
    event = load_event("cloudwatch_logs_corrupt")
    event["awslogs"]["data"] = payload
    lam = run(acceptor, event, "fine")["data"]["lambda"]
    assert lam["trigger"] == "aws:cloudwatch.logs"
    assert lam["cw"]["logs"]["decodingError"].startswith("Could not decode the CloudWatch Logs")
    assert len(lam["cw"]["logs"]["decodingError"]) <= 200


def test_cloudwatch_logs_fixture_is_corrupt(acceptor: Any, traced: Any) -> None:
    lam = run(acceptor, load_event("cloudwatch_logs_corrupt"))["data"]["lambda"]
    assert "decodingError" in lam["cw"]["logs"]


def test_direct_invoke(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("direct_invoke"), {"statusCode": 500})
    assert span["data"]["lambda"]["trigger"] == "aws:lambda.invoke"
    assert "http" not in span["data"]
    assert span["ec"] == 0  # a statusCode only means something for HTTP triggers
    assert "p" not in span


def test_direct_invoke_continues_the_trace_from_top_level_payload_keys(
    acceptor: Any, traced: Any
) -> None:
    event = {
        **load_event("direct_invoke"),
        "X-INSTANA-T": "0000000000000000a1b2c3d4e5f60718",
        "x-instana-s": "0000000000c0ffee",
        "X-Instana-L": "1",
    }
    span = run(acceptor, event)
    assert span["data"]["lambda"]["trigger"] == "aws:lambda.invoke"
    assert span["t"] == "a1b2c3d4e5f60718" and span["lt"] == "0000000000000000a1b2c3d4e5f60718"
    assert span["p"] == "0000000000c0ffee"


def test_direct_invoke_payload_level_zero_suppresses(acceptor: Any, traced: Any) -> None:
    calls: List[Any] = []

    @lambda_handler
    def handler(event: Any, context: Any) -> str:
        calls.append(event)
        return "ok"

    assert handler({"X-INSTANA-L": "0", "order": 1}, make_context()) == "ok"
    instana.flush()
    assert calls and acceptor.spans() == []


def test_direct_invoke_ignores_malformed_and_w3c_payload_keys(acceptor: Any, traced: Any) -> None:
    event = {
        "X-INSTANA-T": "not hex",
        "X-INSTANA-S": "0000000000c0ffee",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }
    span = run(acceptor, event)
    assert "p" not in span and span["t"] != "0af7651916cd43dd"


def test_every_fixture_is_detected_as_expected() -> None:
    expected = {
        "alb": "aws:application.load.balancer",
        "alb_multi_value": "aws:application.load.balancer",
        "api_gateway_http_v2": "aws:api.gateway",
        "api_gateway_noproxy": "aws:api.gateway.noproxy",
        "api_gateway_rest": "aws:api.gateway",
        "api_gateway_websocket": "aws:api.gateway",
        "cloudwatch_logs": "aws:cloudwatch.logs",
        "cloudwatch_logs_corrupt": "aws:cloudwatch.logs",
        "direct_invoke": "aws:lambda.invoke",
        "dynamodb": "aws:dynamodb",
        "eventbridge_custom": "aws:eventbridge",
        "eventbridge_scheduled": "aws:cloudwatch.events",
        "function_url": "aws:lambda.function.url",
        "kinesis": "aws:kinesis",
        "s3": "aws:s3",
        "sns": "aws:sns",
        "sqs": "aws:sqs",
        "sqs_from_sns": "aws:sqs",
        "msk": "aws:lambda.invoke",
        "self_managed_kafka": "aws:lambda.invoke",
        "amazon_mq_rabbitmq": "aws:lambda.invoke",
        "amazon_mq_activemq": "aws:lambda.invoke",
        "appsync": "aws:lambda.invoke",
    }
    from tests.lambda_fixtures import EVENTS

    assert sorted(p.stem for p in EVENTS.glob("*.json")) == sorted(expected)
    for name, trigger in expected.items():
        assert triggers.detect(load_event(name)).name == trigger, name


MALFORMED: List[Any] = [
    None,
    [],
    "text",
    42,
    {},
    {"Records": []},
    {"Records": "nope"},
    {"Records": [None]},
    {"Records": [{"eventSource": "aws:sqs"}]},
    {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "messageAttributes": "x",
                "body": '{"Type":"Notification","X_INSTANA_T"',
            }
        ]
    },
    {"Records": [{"eventSource": "aws:sqs", "messageAttributes": {"X_INSTANA_T": 5}}]},
    {"Records": [{"EventSource": "aws:sns", "Sns": None}]},
    {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": 5, "object": None}}, 7]},
    {"requestContext": {"elb": 1}, "headers": 5, "queryStringParameters": [1, 2]},
    {"requestContext": {"http": None}, "version": "2.0", "rawQueryString": 5, "headers": []},
    {"version": "2.0", "requestContext": {"http": {"method": 7}, "domainName": 5}},
    {
        "resource": None,
        "path": ["x"],
        "httpMethod": 7,
        "multiValueQueryStringParameters": {"a": None},
    },
    {"requestContext": {"connectionId": 1, "eventType": None}},
    {"awslogs": {"data": None}},
    {"awslogs": {}},
    {"detail-type": 5, "source": None, "detail": 1, "resources": "abc"},
    {"source": "aws.events", "detail-type": "Scheduled Event", "resources": [None, 5]},
    {"context": {"http-method": 5, "resource-path": None}, "params": {"path": {"id": 5}}},
    {"eventSource": "aws:kafka", "records": {"t-0": [None, {"headers": 5, "partition": "x"}]}},
    {"eventSource": "aws:kafka", "records": {"t-0": "x", "t-1": [{"headers": [{"x": None}]}]}},
    {"eventSource": "SelfManagedKafka", "records": {5: [{"headers": [{"X_INSTANA_C": [999]}]}]}},
    {"eventSource": "aws:rmq", "rmqMessagesByQueue": {"q": [{"basicProperties": None}], 5: []}},
    {
        "eventSource": "aws:rmq",
        "rmqMessagesByQueue": {"q::/": [{"basicProperties": {"headers": {"X-Instana-T": {}}}}]},
    },
    {"eventSource": "aws:mq", "messages": [None, {"destination": 5, "properties": []}]},
    {"eventSource": "aws:mq", "messages": "x"},
    {"info": {"fieldName": 1, "parentTypeName": None}, "request": {"headers": []}},
]


@pytest.mark.parametrize("event", MALFORMED)
def test_malformed_events_never_raise(event: Any) -> None:
    config = Config(extra_http_headers=("x-request-source",))
    trigger = triggers.detect(event)
    data: Dict[str, Any] = {"lambda": {}}
    sources = triggers.summarize(trigger, event, data, config)
    assert isinstance(sources, list)


@pytest.mark.parametrize("event", MALFORMED)
def test_malformed_events_still_produce_a_valid_span(
    acceptor: Any, traced: Any, event: Any
) -> None:
    span = run(acceptor, event, {"statusCode": "not a number", "headers": None})
    assert span["n"] == "aws.lambda.entry"
    assert span["data"]["lambda"]["trigger"].startswith("aws:")


def test_attributes_as_headers_reads_every_spelling() -> None:
    assert triggers.attributes_as_headers(
        {
            "X_INSTANA_T": {"stringValue": "a"},
            "x-instana-s": {"Value": "b"},
            "traceparent": {"StringValue": "c"},
            "other": {"stringValue": "d"},
        }
    ) == {"x-instana-t": "a", "x-instana-s": "b", "traceparent": "c"}
    assert triggers.attributes_as_headers({"other": {"stringValue": "d"}}) is None


def test_sqs_batch_continues_from_the_first_record_that_carries_context(
    acceptor: Any, traced: Any
) -> None:
    event = load_event("sqs")
    first = event["Records"][0]
    first_context = first["messageAttributes"]
    first["messageAttributes"] = {}
    event["Records"][2]["messageAttributes"] = first_context
    span = run(acceptor, event)
    assert (span["t"], span["p"]) == ("0000000000000a01", "0000000000000a02")


def test_sns_batch_continues_from_the_first_record_that_carries_context(
    acceptor: Any, traced: Any
) -> None:
    event = load_event("sns")
    carrying = copy.deepcopy(event["Records"][0])
    del event["Records"][0]["Sns"]["MessageAttributes"]
    event["Records"].append(carrying)
    span = run(acceptor, event)
    assert (span["t"], span["p"]) == ("0000000000000c01", "0000000000000c02")


def test_msk_continues_from_the_first_record_with_string_headers(
    acceptor: Any, traced: Any
) -> None:
    span = run(acceptor, load_event("msk"))
    lam = span["data"]["lambda"]
    assert lam["trigger"] == "aws:lambda.invoke"
    assert lam["kafka"] == {
        "source": "aws:kafka",
        "records": [
            {"topic": "orders", "partition": 0, "offset": 15},
            {"topic": "orders", "partition": 0, "offset": 16},
            {"topic": "orders", "partition": 1, "offset": 3},
        ],
        "count": 4,
        "more": True,
    }
    assert (span["t"], span["p"]) == ("0000000000000d01", "0000000000000d02")


def test_self_managed_kafka_reads_the_legacy_binary_headers(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("self_managed_kafka"))
    lam = span["data"]["lambda"]
    assert lam["kafka"] == {
        "source": "SelfManagedKafka",
        "records": [{"topic": "payments", "partition": 0, "offset": 7}],
        "count": 1,
        "more": False,
    }
    assert (span["t"], span["p"]) == ("0000000000000e01", "0000000000000e02")


def test_kafka_trace_correlation_off_starts_a_new_trace(acceptor: Any) -> None:
    decorator._reset_for_tests()
    instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY),
        environ={"INSTANA_KAFKA_TRACE_CORRELATION": "false"},
    )
    try:
        span = run(acceptor, load_event("msk"))
    finally:
        instana.configure(environ={})
    assert "p" not in span and span["t"] != "0000000000000d01"


def test_amazon_mq_for_rabbitmq(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("amazon_mq_rabbitmq"))
    lam = span["data"]["lambda"]
    assert lam["trigger"] == "aws:lambda.invoke"
    assert lam["mq"] == {
        "source": "aws:rmq",
        "messages": [{"queue": "orders"}, {"queue": "orders"}],
        "count": 2,
        "more": False,
    }
    assert (span["t"], span["p"]) == ("0000000000000f01", "0000000000000f02")


def test_amazon_mq_for_activemq(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("amazon_mq_activemq"))
    lam = span["data"]["lambda"]
    assert lam["trigger"] == "aws:lambda.invoke"
    assert lam["mq"] == {
        "source": "aws:mq",
        "messages": [{"queue": "shipments"}, {"queue": "shipments"}],
        "count": 2,
        "more": False,
    }
    assert (span["t"], span["p"]) == ("0000000000000a71", "0000000000000a72")


def test_appsync_continues_from_the_request_headers(acceptor: Any, traced: Any) -> None:
    span = run(acceptor, load_event("appsync"))
    lam = span["data"]["lambda"]
    assert lam["trigger"] == "aws:lambda.invoke"
    assert lam["appsync"] == {
        "source": "aws:appsync",
        "fieldName": "getOrder",
        "parentTypeName": "Query",
    }
    assert (span["t"], span["p"]) == ("0000000000000a51", "0000000000000a52")


def test_appsync_traceparent_alone_is_continued(acceptor: Any, traced: Any) -> None:
    event = load_event("appsync")
    for name in ("x-instana-t", "x-instana-s", "x-instana-l"):
        del event["request"]["headers"][name]
    span = run(acceptor, event)
    assert (span["t"], span["p"]) == ("8448eb211c80319c", "b7ad6b7169203331")
    assert span["tp"] is True


@pytest.mark.parametrize(("position", "continued"), [(99, True), (100, False)])
def test_a_batch_is_searched_for_context_in_its_first_hundred_records(
    acceptor: Any, traced: Any, position: int, continued: bool
) -> None:
    event = load_event("sqs")
    carrying = event["Records"][0]
    plain = copy.deepcopy(carrying)
    plain["messageAttributes"] = {}
    event["Records"] = [copy.deepcopy(plain) for _ in range(150)]
    event["Records"][position] = carrying
    span = run(acceptor, event)
    assert span["data"]["lambda"]["sqs"]["more"] is True
    assert (span.get("p") == "0000000000000a02") is continued


@pytest.mark.parametrize(
    "level", [[{"x_instana_l_s": [48]}], [{"X_INSTANA_L": [0]}]], ids=["string", "binary"]
)
def test_a_suppressed_kafka_record_suppresses_the_invocation(
    acceptor: Any, traced: Any, level: Any
) -> None:
    event = load_event("self_managed_kafka")
    event["records"]["payments-0"][0]["headers"] = level

    @lambda_handler
    def handler(event: Any, context: Any) -> Any:
        return "quiet"

    assert handler(event, make_context()) == "quiet"
    assert instana.flush()
    assert acceptor.spans() == []
