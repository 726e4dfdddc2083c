"""Exit spans ``gcs`` for google-cloud-storage, with ``data.gcs.*`` as the Instana Python sensor
sends them.

Three ways a call reaches Cloud Storage, one span each:

- JSON API requests (``Connection.api_request``: buckets, object metadata, listing, copy,
  rewrite, compose, ACLs, HMAC keys): ``op`` is the JSON API method read from the HTTP method
  and path (``objects.list``, ``buckets.insert`` …) with the names in the path (``bucket``,
  ``object``, ``sourceBucket``/``sourceObject``, ``destinationBucket``/``destinationObject``,
  ``sourceObjects``, ``entity``, ``projectId``, ``accessId``). A request we do not know is not a
  ``gcs`` span (its HTTP request still is one, of the HTTP client row).
- Media downloads (``Blob._do_download``): ``objects.get`` with ``bucket``, ``object`` and
  ``range`` (``start-end``) when one was asked for.
- Uploads (``Blob._do_upload``): ``objects.insert`` with ``bucket`` and ``object``.
- ``Batch.finish``: ``batch`` with ``projectId`` and ``numberOfOperations``; the requests
  deferred into the batch are not spans of their own.

The library sends with requests/urllib3 (the row covers ``urllib3``), so a call is one span.
"""

from __future__ import annotations

from ._patches import Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Mapping, Optional

    from ._wrap import Call, StartResult

    Collect = Callable[[List[str], Mapping[str, Any], Mapping[str, Any]], Dict[str, Any]]

SPAN = "gcs"
ERROR_PATH = ("gcs",)
_MAX_TEXT = 1024


def _name(segment: str) -> str:
    if "%" not in segment:
        return segment[:_MAX_TEXT]
    from urllib.parse import unquote  # imports functools: only when a name is quoted

    return unquote(segment)[:_MAX_TEXT]


def _bucket(op: str) -> Collect:
    return lambda p, q, d: {"op": op, "bucket": _name(p[1])}


def _object(op: str) -> Collect:
    return lambda p, q, d: {"op": op, "bucket": _name(p[1]), "object": _name(p[3])}


def _default_acl(op: str) -> Collect:
    return lambda p, q, d: {"op": op, "bucket": _name(p[1]), "entity": _name(p[3])}


def _object_acl(op: str) -> Collect:
    return lambda p, q, d: {
        "op": op,
        "bucket": _name(p[1]),
        "object": _name(p[3]),
        "entity": _name(p[5]),
    }


def _project(op: str) -> Collect:
    return lambda p, q, d: {"op": op, "projectId": _name(p[1])}


def _hmac_key(op: str) -> Collect:
    return lambda p, q, d: {"op": op, "projectId": _name(p[1]), "accessId": _name(p[3])}


def _source_to_destination(op: str) -> Collect:
    return lambda p, q, d: {
        "op": op,
        "sourceBucket": _name(p[1]),
        "sourceObject": _name(p[3]),
        "destinationBucket": _name(p[6]),
        "destinationObject": _name(p[8]),
    }


def _compose(p: List[str], q: Mapping[str, Any], d: Mapping[str, Any]) -> Dict[str, Any]:
    bucket = _name(p[1])
    sources = d.get("sourceObjects") or ()
    names = [f"{bucket}/{s['name']}" for s in sources if isinstance(s, dict) and "name" in s]
    return {
        "op": "objects.compose",
        "destinationBucket": bucket,
        "destinationObject": _name(p[3]),
        "sourceObjects": ",".join(names)[:_MAX_TEXT],
    }


def _object_get(p: List[str], q: Mapping[str, Any], d: Mapping[str, Any]) -> Dict[str, Any]:
    op = "objects.get" if q.get("alt") == "media" else "objects.attrs"
    return {"op": op, "bucket": _name(p[1]), "object": _name(p[3])}


def _object_insert(p: List[str], q: Mapping[str, Any], d: Mapping[str, Any]) -> Dict[str, Any]:
    return {"op": "objects.insert", "bucket": _name(p[1]), "object": q.get("name", d.get("name"))}


# The path's segments with names replaced by "*" (``/b/orders/o/a%2F1`` -> ``b/*/o/*``) ->
# what the request is, per HTTP method; the collectors get the segments themselves.
_B, _O, _ACL, _DACL = "b/*", "b/*/o/*", "b/*/o/*/acl", "b/*/defaultObjectAcl"
_HMAC, _COPY, _REWRITE = (
    "projects/*/hmacKeys",
    "b/*/o/*/copyTo/b/*/o/*",
    "b/*/o/*/rewriteTo/b/*/o/*",
)
_API: Dict[str, Dict[str, Collect]] = {
    "GET": {
        "b": lambda p, q, d: {"op": "buckets.list", "projectId": q.get("project")},
        _B: _bucket("buckets.get"),
        f"{_B}/iam": _bucket("buckets.getIamPolicy"),
        f"{_B}/iam/testPermissions": _bucket("buckets.testIamPermissions"),
        _O: _object_get,
        f"{_B}/o": _bucket("objects.list"),
        f"{_DACL}/*": _default_acl("defaultAcls.get"),
        _DACL: _bucket("defaultAcls.list"),
        f"{_ACL}/*": _object_acl("objectAcls.get"),
        _ACL: _object("objectAcls.list"),
        _HMAC: _project("hmacKeys.list"),
        f"{_HMAC}/*": _hmac_key("hmacKeys.get"),
        "projects/*/serviceAccount": _project("serviceAccount.get"),
    },
    "POST": {
        "b": lambda p, q, d: {
            "op": "buckets.insert",
            "projectId": q.get("project"),
            "bucket": d.get("name"),
        },
        f"{_B}/lockRetentionPolicy": _bucket("buckets.lockRetentionPolicy"),
        f"{_O}/compose": _compose,
        _COPY: _source_to_destination("objects.copy"),
        f"{_B}/o": _object_insert,
        _REWRITE: _source_to_destination("objects.rewrite"),
        "channels/stop": lambda p, q, d: {"op": "channels.stop", "entity": d.get("id")},
        _DACL: lambda p, q, d: {
            "op": "defaultAcls.insert",
            "bucket": _name(p[1]),
            "entity": d.get("entity"),
        },
        _ACL: lambda p, q, d: {
            "op": "objectAcls.insert",
            "bucket": _name(p[1]),
            "object": _name(p[3]),
            "entity": d.get("entity"),
        },
        _HMAC: _project("hmacKeys.create"),
    },
    "PATCH": {
        _B: _bucket("buckets.patch"),
        _O: _object("objects.patch"),
        f"{_DACL}/*": _default_acl("defaultAcls.patch"),
        f"{_ACL}/*": _object_acl("objectAcls.patch"),
    },
    "PUT": {
        _B: _bucket("buckets.update"),
        f"{_B}/iam": _bucket("buckets.setIamPolicy"),
        _O: _object("objects.update"),
        f"{_DACL}/*": _default_acl("defaultAcls.update"),
        f"{_ACL}/*": _object_acl("objectAcls.update"),
        f"{_HMAC}/*": _hmac_key("hmacKeys.update"),
    },
    "DELETE": {
        _B: _bucket("buckets.delete"),
        _O: _object("objects.delete"),
        f"{_DACL}/*": _default_acl("defaultAcls.delete"),
        f"{_ACL}/*": _object_acl("objectAcls.delete"),
        f"{_HMAC}/*": _hmac_key("hmacKeys.delete"),
    },
}
# the words after which a path segment is a name (bucket, object, entity, project, key)
_NAME_FOLLOWS = frozenset(("b", "o", "acl", "defaultObjectAcl", "projects", "hmacKeys"))


def api_data(
    method: Any, path: Any, params: Optional[Mapping[str, Any]], body: Any
) -> Optional[Dict[str, Any]]:
    """``data.gcs`` of a JSON API request, None for one we do not know."""
    routes = _API.get(method) if isinstance(method, str) else None
    if routes is None or not isinstance(path, str):
        return None
    segments = path.strip("/").split("/")
    shape: List[str] = []
    for segment in segments:
        # the previous token, not segment: an object named "o" is a name, not the word
        shape.append("*" if shape and shape[-1] in _NAME_FOLLOWS else segment)
    collect = routes.get("/".join(shape))
    if collect is None:
        return None
    gcs = collect(segments, params or {}, body if isinstance(body, dict) else {})
    return {key: value for key, value in gcs.items() if value is not None}


def _arg(call: Call, index: int, name: str) -> Any:
    args = call.args
    return args[index] if len(args) > index else call.kwargs.get(name)


def start(call: Call) -> StartResult:
    connection = call.args[0]
    if getattr(connection, "_requests", None) is not None:
        return None  # deferred into a Batch: Batch.finish is the span
    gcs = api_data(
        _arg(call, 1, "method"),
        _arg(call, 2, "path"),
        _arg(call, 3, "query_params"),
        _arg(call, 4, "data"),
    )
    if gcs is None:
        return None
    return SPAN, ({"gcs": gcs} if call.recording else None), ERROR_PATH


def _blob_data(blob: Any, op: str) -> Dict[str, Any]:
    return {"op": op, "bucket": blob.bucket.name, "object": blob.name}


def start_download(call: Call) -> StartResult:
    if not call.recording:
        return SPAN, None, ERROR_PATH
    gcs = _blob_data(call.args[0], "objects.get")
    # _do_download(self, transport, file_obj, download_url, headers, start=None, end=None, ...)
    first, last = _arg(call, 5, "start"), _arg(call, 6, "end")
    if first is not None or last is not None:
        gcs["range"] = f"{'' if first is None else first}-{'' if last is None else last}"
    return SPAN, {"gcs": gcs}, ERROR_PATH


def start_upload(call: Call) -> StartResult:
    if not call.recording:
        return SPAN, None, ERROR_PATH
    return SPAN, {"gcs": _blob_data(call.args[0], "objects.insert")}, ERROR_PATH


def start_batch(call: Call) -> StartResult:
    if not call.recording:
        return SPAN, None, ERROR_PATH
    batch = call.args[0]
    gcs = {
        "op": "batch",
        "projectId": batch._client.project,
        "numberOfOperations": len(batch._requests),
    }
    return SPAN, {"gcs": gcs}, ERROR_PATH


PATCHES = {
    "google.cloud.storage._http": (Method("Connection", "api_request", start),),
    "google.cloud.storage.blob": (
        Method("Blob", "_do_download", start_download),
        Method("Blob", "_do_upload", start_upload),
    ),
    "google.cloud.storage.batch": (Method("Batch", "finish", start_batch),),
}
