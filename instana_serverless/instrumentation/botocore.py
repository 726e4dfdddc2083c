"""Exit spans for boto3/botocore calls, and the trace context carried inside AWS messages.

``BaseClient._make_api_call`` sees every operation of every client with its parameters
before validation and signing, which is where context can still be added to SQS/SNS message
attributes and the Lambda ClientContext. The span stays active while botocore sends, so its
urllib3 request is part of this span (the registry row covers urllib3) instead of a second exit.
"""

from __future__ import annotations

from collections import abc

from ..secrets import MASK
from ..tracer import activate, restore
from . import aws_context
from ._common import config, tracer_bug
from ._patches import Custom, Method
from ._wrap import parent_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Mapping, Optional, Tuple

    from ..span import Span
    from ._wrap import Call, StartResult
    from .registry import Entry

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
        if table is None and isinstance(items, abc.Mapping) and items:
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


def start(call: Call) -> StartResult:
    client, op, params = call.args
    # botocore always passes its own kwargs dict; anything else is not ours to touch.
    if type(op) is not str or type(params) is not dict:
        return None
    meta = client.meta
    service = meta.service_model.service_name
    call.state = service
    if not call.recording:
        # Suppressed: nothing is recorded, but downstream must still learn the level is 0.
        return "boto3", None, ()
    name, section, values = describe(service, op, params, meta.region_name, meta.endpoint_url)
    return name, {section: values}, (section,)


def inject_context(call: Call) -> None:
    client, op, params = call.args
    call.args = (client, op, inject(call.state, op, params, call.span))


def _http_status(response: Any) -> Optional[int]:
    meta = response.get("ResponseMetadata") if type(response) is dict else None
    status = meta.get("HTTPStatusCode") if type(meta) is dict else None
    return status if type(status) is int else None


def end(call: Call, result: Any, exc: Optional[BaseException]) -> None:
    span = call.span
    if exc is not None:
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


class _InSpan:
    """A task that runs with ``span`` active; everything else is the task's own."""

    __slots__ = ("_span", "_task")

    def __init__(self, task: Any, span: Span) -> None:
        self._task = task
        self._span = span

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = activate(self._span)
        try:
            return self._task(*args, **kwargs)
        finally:
            restore(token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def __repr__(self) -> str:
        return repr(self._task)


def _carrying_submit(entry: Entry, original: Callable[..., Any]) -> Callable[..., Any]:
    """s3transfer's managed transfers (``upload_file``, ``download_file`` …) run their S3 calls
    on a thread pool where no span is active: each task submitted from traced work carries the
    submitter's span into the worker, where its S3 calls become exits as usual."""

    def submit(self: Any, task: Any, tag: Any = None, block: bool = True) -> Any:
        try:
            parent = parent_for(entry)
            if parent is not None:
                task = _InSpan(task, parent)
        except Exception:
            tracer_bug("carrying the trace into an s3transfer task")
        return original(self, task, tag, block)

    return submit


PATCHES = {
    "botocore.client": (Method("BaseClient", "_make_api_call", start, end, inject=inject_context),),
    "s3transfer.futures": (Custom("BoundedExecutor", "submit", _carrying_submit),),
}
