"""Triggers: Instana's names for them, recognising one from the arguments of a call, and
what each trigger tells us (``data.http``, trace context in headers or message properties).

``azure.functions`` is never imported here: the user's app has imported it already, and the
argument objects are recognised by the names of their ``azure.functions`` classes.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Type

from ..config import Config
from ..http_data import http_entry_data
from ..secrets import MASK

HTTP = "httpTrigger"

# Binding type → ``data.azf.triggername``; other binding types are reported as they are.
TRIGGER_NAMES: Dict[str, str] = {
    HTTP: "HTTP",
    "timerTrigger": "Timer",
    "queueTrigger": "Queue",
    "serviceBusTrigger": "Service Bus",
    "blobTrigger": "Blob Storage",
    "eventHubTrigger": "Event Hubs",
    "eventGridTrigger": "Event Grid",
    "cosmosDBTrigger": "Cosmos DB",
}

# ``azure.functions`` class name → binding type of the trigger that delivers it.
_BINDING_BY_CLASS: Dict[str, str] = {
    "HttpRequest": HTTP,
    "TimerRequest": "timerTrigger",
    "QueueMessage": "queueTrigger",
    "ServiceBusMessage": "serviceBusTrigger",
    "InputStream": "blobTrigger",
    "EventHubEvent": "eventHubTrigger",
    "EventGridEvent": "eventGridTrigger",
    "CloudEvent": "eventGridTrigger",
    "Document": "cosmosDBTrigger",
    "DocumentList": "cosmosDBTrigger",
}

_MAX_CACHED_TYPES = 256
_binding_by_type: Dict[Type[Any], Optional[str]] = {}

# The function key travels as ``?code=``: an access key whatever the secrets matcher says.
_FUNCTION_KEY_PARAM = "code"


def trigger_name(binding_type: Optional[str]) -> Optional[str]:
    if not binding_type:
        return None
    return TRIGGER_NAMES.get(binding_type, binding_type)


def _classify_type(cls: Type[Any]) -> Optional[str]:
    for base in cls.__mro__:
        module = getattr(base, "__module__", "") or ""
        if module.startswith("azure.functions"):
            found = _BINDING_BY_CLASS.get(base.__name__)
            if found is not None:
                return found
    return None


def binding_of(value: Any) -> Optional[str]:
    """The trigger binding type that delivers ``value``, or None (cached per class)."""
    if isinstance(value, list):  # cardinality "many": Event Hubs, Service Bus batches
        if not value:
            return None
        value = value[0]
    cls = type(value)
    try:
        return _binding_by_type[cls]
    except KeyError:
        pass
    found = _classify_type(cls)
    if len(_binding_by_type) < _MAX_CACHED_TYPES:
        _binding_by_type[cls] = found
    return found


def find_trigger(values: Iterable[Any]) -> Tuple[Optional[str], Any]:
    """(binding type, value) of the first argument a trigger delivers, else (None, None)."""
    for value in values:
        binding = binding_of(value)
        if binding is not None:
            return binding, value
    return None, None


# -- HTTP -------------------------------------------------------------------------------


def request_headers(request: Any) -> Optional[Mapping[str, Any]]:
    headers = getattr(request, "headers", None)
    # azure.functions keeps the lower-cased headers in a plain dict: iterating it is cheaper
    # than going through the Mapping ABC.
    plain = getattr(headers, "__http_headers__", None)
    if isinstance(plain, dict):
        return plain
    return headers if isinstance(headers, Mapping) else None


def _split_url(url: str) -> Tuple[Optional[str], Optional[str]]:
    """(host, path) of an absolute or relative URL, without the query or fragment."""
    url = url.split("#", 1)[0].split("?", 1)[0]
    _, sep, rest = url.partition("://")
    if not sep:
        return None, url or None
    host, slash, path = rest.partition("/")
    return host or None, slash + path if slash else "/"


def _masked_params(params: Any) -> Any:
    if not isinstance(params, Mapping) or not params:
        return None
    if _FUNCTION_KEY_PARAM not in params:
        return params
    return {k: (MASK if k == _FUNCTION_KEY_PARAM else v) for k, v in params.items()}


def _path_template(route: Optional[str], path: Optional[str]) -> Optional[str]:
    """The declared route under the app's route prefix ("api" unless host.json changes it),
    which the declaration leaves out: the URL's extra leading segments are that prefix."""
    if not route:
        return None
    route = route.strip("/")
    path_parts = path.strip("/").split("/") if path else []
    route_parts = route.split("/")
    extra = len(path_parts) - len(route_parts)
    if "{*" in route:  # a catch-all matches any depth: assume a one-segment prefix
        extra = 1 if path_parts and path_parts[0] != route_parts[0] else 0
    if extra > 0:
        return "/" + "/".join(path_parts[:extra]) + "/" + route
    return "/" + route


def http_data(
    request: Any, headers: Optional[Mapping[str, Any]], config: Config, route: Optional[str]
) -> Dict[str, Any]:
    url = getattr(request, "url", None)
    host, path = _split_url(url) if isinstance(url, str) else (None, None)
    method = getattr(request, "method", None)
    if headers is not None:
        forwarded = headers.get("x-forwarded-host") or headers.get("host")
        if isinstance(forwarded, str) and forwarded:
            host = forwarded
    return http_entry_data(
        config,
        method=method if isinstance(method, str) else None,
        url=path,
        query=_masked_params(getattr(request, "params", None)),
        headers=headers,
        host=host,
        path_tpl=_path_template(route, path),
    )


# -- message properties -----------------------------------------------------------------


def _as_header_map(properties: Any) -> Optional[Dict[str, Any]]:
    """Message properties as headers: ``X_INSTANA_T`` and ``X-INSTANA-T`` both count."""
    if not isinstance(properties, Mapping) or not properties:
        return None
    found: Dict[str, Any] = {}
    for key, value in properties.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                continue
        found[key.replace("_", "-")] = value
    return found


def message_context(binding: Optional[str], value: Any) -> Optional[Dict[str, Any]]:
    """Trace headers carried by a message trigger's properties, if any."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    if binding == "serviceBusTrigger":
        return _as_header_map(getattr(value, "application_properties", None))
    if binding == "eventHubTrigger":
        metadata = getattr(value, "metadata", None)
        if not isinstance(metadata, Mapping):
            return None
        properties = metadata.get("Properties")
        if properties is None:  # a batch: the first event's properties
            batch = metadata.get("PropertiesArray")
            properties = batch[0] if isinstance(batch, list) and batch else None
        return _as_header_map(properties)
    return None


def trace_context_map(context: Any) -> Optional[Dict[str, Any]]:
    """``traceparent``/``tracestate`` from the worker's ``context.trace_context``."""
    trace_context = getattr(context, "trace_context", None)
    if trace_context is None:
        return None
    parent = getattr(trace_context, "trace_parent", None)
    if not isinstance(parent, str) or not parent:
        return None
    found: Dict[str, Any] = {"traceparent": parent}
    state = getattr(trace_context, "trace_state", None)
    if isinstance(state, str) and state:
        found["tracestate"] = state
    return found
