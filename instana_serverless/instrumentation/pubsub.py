"""Exit spans ``gcps`` for google-cloud-pubsub's ``PublisherClient.publish``, with the trace
context in the message's attributes.

``publish`` hands the message to the client's batcher and returns a future; the batch goes out
on the library's own thread. The span covers ``publish`` itself (as in the Instana sensors):
``gcps.{op: "publish", projid, top}`` from the topic path ``projects/<p>/topics/<t>``. The
message gets the attributes ``x-instana-t``, ``x-instana-s``, ``x-instana-l`` (only
``x-instana-l: 0`` in a suppressed trace), which our Cloud Run / Cloud Functions ``gcps`` entry
(instana_serverless/gcp/events.py) reads from the pushed message to continue the trace.
Attributes are keyword arguments of ``publish``: we pass a copy of them, never touching the
caller's dict; a message already at Pub/Sub's limit of 100 attributes goes out unchanged.
"""

from __future__ import annotations

from ._patches import Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

    from ._wrap import Call, StartResult

ATTR_T = "x-instana-t"
ATTR_S = "x-instana-s"
ATTR_L = "x-instana-l"
MAX_ATTRIBUTES = 100
_MAX_TEXT = 200


def topic_parts(topic: Any) -> Dict[str, str]:
    """``projects/<p>/topics/<t>`` -> ``{projid: p, top: t}`` (what it has of them)."""
    parts: Dict[str, str] = {}
    if not isinstance(topic, str):
        return parts
    pieces = topic.split("/")
    if len(pieces) >= 2 and pieces[0] == "projects" and pieces[1]:
        parts["projid"] = pieces[1][:_MAX_TEXT]
    if len(pieces) >= 4 and pieces[2] == "topics" and pieces[3]:
        parts["top"] = pieces[3][:_MAX_TEXT]
    return parts


def start(call: Call) -> StartResult:
    args = call.args
    topic = args[1] if len(args) > 1 else call.kwargs.get("topic")
    if not call.recording:
        return "gcps", None, ("gcps",)
    return "gcps", {"gcps": {"op": "publish", **topic_parts(topic)}}, ("gcps",)


def inject(call: Call) -> None:
    span = call.span
    values = (
        {ATTR_T: span.trace_id, ATTR_S: span.span_id, ATTR_L: "1"}
        if span.recording
        else {ATTR_L: "0"}
    )
    kwargs = dict(call.kwargs)
    # publish's own keywords are not attributes
    attributes = len(kwargs) - sum(
        1 for k in ("topic", "data", "ordering_key", "retry", "timeout") if k in kwargs
    )
    for name in (ATTR_T, ATTR_S, ATTR_L):
        if name in kwargs:
            del kwargs[name]
            attributes -= 1
    if attributes + len(values) > MAX_ATTRIBUTES:
        return
    kwargs.update(values)
    call.kwargs = kwargs


PATCHES = {
    "google.cloud.pubsub_v1.publisher.client": (Method("Client", "publish", start, inject=inject),),
}
