"""Exit spans for boto3/botocore calls, and the trace context carried inside AWS messages.

``BaseClient._make_api_call`` sees every operation of every client with its parameters
before validation and signing, which is where context can still be added to SQS/SNS message
attributes and the Lambda ClientContext. The span stays active while botocore sends, so its
urllib3 request is part of this span instead of a second exit.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any, Dict, Mapping, Optional, Tuple

from ..secrets import MASK
from ..span import EXIT, Span
from ..tracer import activate, restore, start_child
from . import aws_context
from ._common import MethodPatch, call_in_exit, config, traced_parent, tracer_bug

NAMES = frozenset(("boto3", "botocore"))
MODULE = "botocore.client"

MAX_TEXT = 200
MAX_PAYLOAD_ITEMS = 10


_SQS_BATCHES = {"SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"}
_LAMBDA_INVOKES = {"Invoke", "InvokeWithResponseStream"}


def _text(value: Any) -> Optional[str]:
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def _compact(values: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _payload(params: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """Scalar parameters only, secrets masked: enough to tell calls apart, never a body."""
    is_secret = config().secrets.is_secret
    payload: Dict[str, Any] = {}
    for key, value in params.items():
        if len(payload) >= MAX_PAYLOAD_ITEMS:
            break
        if not isinstance(key, str) or isinstance(value, bytes):
            continue
        if isinstance(value, str):
            payload[key] = MASK if is_secret(key) else value[:MAX_TEXT]
        elif isinstance(value, (bool, int, float)):
            payload[key] = MASK if is_secret(key) else value
    return payload or None


def describe(
    service: str, op: str, params: Mapping[str, Any], region: Optional[str], endpoint: Any
) -> Tuple[str, str, Dict[str, Any]]:
    """(span name, data section, section contents) of one AWS operation."""
    if service == "s3":
        return (
            "s3",
            "s3",
            _compact(
                {"op": op, "bucket": _text(params.get("Bucket")), "key": _text(params.get("Key"))}
            ),
        )
    if service == "sqs":
        sqs: Dict[str, Any] = {"sort": "exit", "type": op}
        queue = _text(params.get("QueueUrl")) or _text(params.get("QueueName"))
        if queue is not None:
            sqs["queue"] = queue
        if op in _SQS_BATCHES:
            entries = params.get("Entries")
            if isinstance(entries, list):
                sqs["size"] = len(entries)
        return "sqs", "sqs", sqs
    if service == "sns":
        return (
            "sns",
            "sns",
            _compact(
                {
                    "topic": _text(params.get("TopicArn")),
                    "target": _text(params.get("TargetArn")),
                    "subject": _text(params.get("Subject")),
                }
            ),
        )
    if service == "dynamodb":
        table = _text(params.get("TableName"))
        items = params.get("RequestItems")
        if table is None and isinstance(items, Mapping) and items:
            table = _text(next(iter(items)))
        return "dynamodb", "dynamodb", _compact({"op": op, "table": table, "region": region})
    if service == "lambda" and op in _LAMBDA_INVOKES:
        invocation_type = _text(params.get("InvocationType")) or "RequestResponse"
        return (
            "aws.lambda.invoke",
            "lambda",
            _compact({"function": _text(params.get("FunctionName")), "type": invocation_type}),
        )
    boto3: Dict[str, Any] = _compact({"op": op, "ep": _text(str(endpoint)), "reg": region})
    payload = _payload(params)
    if payload:
        boto3["payload"] = payload
    return "boto3", "boto3", boto3


def inject(service: str, op: str, params: Mapping[str, Any], span: Span) -> Mapping[str, Any]:
    """Parameters with the trace context added where the operation can carry it."""
    if service == "sqs":
        if op == "SendMessage":
            return aws_context.inject_message(params, aws_context.attribute_values(span))
        if op == "SendMessageBatch":
            values = aws_context.attribute_values(span)
            return aws_context.inject_batch(params, "Entries", values)
    elif service == "sns":
        if op == "Publish":
            return aws_context.inject_message(params, aws_context.attribute_values(span))
        if op == "PublishBatch":
            values = aws_context.attribute_values(span)
            return aws_context.inject_batch(params, "PublishBatchRequestEntries", values)
    elif service == "lambda" and op in _LAMBDA_INVOKES:
        return aws_context.inject_client_context(params, span)
    return params


Prepared = Tuple[Span, Mapping[str, Any], "Token[Optional[Span]]"]


def _before(client: Any, op: Any, params: Any) -> Optional[Prepared]:
    parent = traced_parent(NAMES)
    # botocore always passes its own kwargs dict; anything else is not ours to touch.
    if parent is None or type(op) is not str or type(params) is not dict:
        return None
    meta = client.meta
    service = meta.service_model.service_name
    if parent.recording:
        region = meta.region_name
        name, section, values = describe(service, op, params, region, meta.endpoint_url)
        span = start_child(name, EXIT, data={section: values}, error_path=(section,), parent=parent)
    else:
        # Suppressed: nothing is recorded, but downstream must still learn the level is 0.
        span = start_child("boto3", EXIT, parent=parent)
    assert span is not None
    try:
        outgoing = inject(service, op, params, span)
    except Exception:
        tracer_bug(f"adding trace context to {service}.{op}")
        outgoing = params
    return span, outgoing, activate(span)


def _http_status(response: Any) -> Optional[int]:
    meta = response.get("ResponseMetadata") if type(response) is dict else None
    status = meta.get("HTTPStatusCode") if type(meta) is dict else None
    return status if type(status) is int else None


def _after(span: Span, token: Token[Optional[Span]], result: Any, exc: Any) -> None:
    try:
        restore(token)
        if span.recording:
            if exc is not None:
                span.record_exception(exc)
                result = getattr(exc, "response", None)
            elif type(result) is dict:
                # Failures AWS reports inside a successful response.
                if result.get("FunctionError"):
                    span.mark_error(f"FunctionError: {result['FunctionError']}")
                failed = result.get("Failed")
                if failed and isinstance(failed, list):
                    span.mark_error(f"{len(failed)} batch entries failed")
            if span.name == "boto3":
                status = _http_status(result)
                if status is not None:
                    span.data["boto3"]["http_status"] = status
        span.finish()
    except Exception:
        tracer_bug("ending a boto3 span")


def _traced_make_api_call(self: Any, operation_name: Any, api_params: Any) -> Any:
    original = _patch.original
    assert original is not None
    try:
        prepared = _before(self, operation_name, api_params)
    except Exception:
        tracer_bug("starting a boto3 span")
        prepared = None
    if prepared is None:
        return original(self, operation_name, api_params)
    span, params, token = prepared
    return call_in_exit(span, token, _after, original, self, operation_name, params)


_patch = MethodPatch(MODULE, "BaseClient", "_make_api_call", _traced_make_api_call)
patch = _patch.apply
unpatch = _patch.restore
