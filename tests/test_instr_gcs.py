"""google-cloud-storage exit spans against gcp-storage-emulator: one ``gcs`` span per operation
with the official sensor's ``data.gcs`` keys, none of the HTTP requests underneath, errors
recorded and re-raised unchanged."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

import pytest
from google.api_core import exceptions
from google.cloud import storage

from instana_serverless.acceptor.server import Acceptor
from instana_serverless.client import Client
from instana_serverless.instrumentation.gcs import api_data
from tests.instr_support import in_lambda, traced
from tests.scenarios.gcs import client_for
from tests.servers import GcsEmulator

__all__ = ["traced"]  # a fixture, used by name as a test argument

PROJECT = "demo-project"


@pytest.fixture
def gcs(traced: Client, gcs_emulator: GcsEmulator) -> storage.Client:
    """A client of the emptied emulator, with bucket ``orders`` holding ``a/1.json``, made
    outside any trace."""
    client = client_for(gcs_emulator)
    client.create_bucket("orders").blob("a/1.json").upload_from_string(b'{"n": 1}')
    return client


def one_exit(acceptor: Acceptor, operation: Callable[[], Any]) -> Dict[str, Any]:
    """``operation`` in a Lambda invocation: its single exit span (no urllib3 span beside it)."""
    _result, entry, exits = in_lambda(acceptor, operation)
    assert [s["n"] for s in exits] == ["gcs"], exits
    (span,) = exits
    assert span["p"] == entry["s"]
    return span


def test_bucket_operations(acceptor: Acceptor, gcs: storage.Client) -> None:
    cases: List[Any] = [
        (lambda: gcs.create_bucket("invoices"), {"op": "buckets.insert", "bucket": "invoices"}),
        (lambda: gcs.get_bucket("invoices"), {"op": "buckets.get", "bucket": "invoices"}),
        (
            lambda: [b.name for b in gcs.list_buckets()],
            {"op": "buckets.list", "projectId": PROJECT},
        ),
        (
            lambda: gcs.bucket("invoices").patch(),
            {"op": "buckets.patch", "bucket": "invoices"},
        ),
        (lambda: gcs.bucket("invoices").delete(), {"op": "buckets.delete", "bucket": "invoices"}),
    ]
    for operation, expected in cases:
        acceptor.clear()
        span = one_exit(acceptor, operation)
        gcs_data = span["data"]["gcs"]
        if expected["op"] == "buckets.insert":
            assert gcs_data.pop("projectId") == PROJECT
        assert gcs_data == expected
        assert span["ec"] == 0


def test_object_operations(acceptor: Acceptor, gcs: storage.Client) -> None:
    bucket = gcs.bucket("orders")
    source = bucket.blob("a/1.json")
    cases: List[Any] = [
        (
            lambda: bucket.blob("b/2.json").upload_from_string(b"{}"),
            {"op": "objects.insert", "bucket": "orders", "object": "b/2.json"},
        ),
        (
            lambda: source.download_as_bytes(),
            {"op": "objects.get", "bucket": "orders", "object": "a/1.json"},
        ),
        (
            lambda: source.download_as_bytes(start=0, end=3),
            {"op": "objects.get", "bucket": "orders", "object": "a/1.json", "range": "0-3"},
        ),
        (
            lambda: source.reload(),
            {"op": "objects.attrs", "bucket": "orders", "object": "a/1.json"},
        ),
        (
            lambda: [b.name for b in bucket.list_blobs()],
            {"op": "objects.list", "bucket": "orders"},
        ),
        (
            lambda: bucket.copy_blob(source, bucket, "c/copy.json"),
            {
                "op": "objects.copy",
                "sourceBucket": "orders",
                "sourceObject": "a/1.json",
                "destinationBucket": "orders",
                "destinationObject": "c/copy.json",
            },
        ),
        (
            lambda: bucket.blob("c/rewritten.json").rewrite(source),
            {
                "op": "objects.rewrite",
                "sourceBucket": "orders",
                "sourceObject": "a/1.json",
                "destinationBucket": "orders",
                "destinationObject": "c/rewritten.json",
            },
        ),
        (
            lambda: bucket.blob("c/all.json").compose([source, bucket.blob("c/copy.json")]),
            {
                "op": "objects.compose",
                "destinationBucket": "orders",
                "destinationObject": "c/all.json",
                "sourceObjects": "orders/a/1.json,orders/c/copy.json",
            },
        ),
        (
            lambda: source.patch(),
            {"op": "objects.patch", "bucket": "orders", "object": "a/1.json"},
        ),
        (
            lambda: bucket.blob("c/copy.json").delete(),
            {"op": "objects.delete", "bucket": "orders", "object": "c/copy.json"},
        ),
    ]
    for operation, expected in cases:
        acceptor.clear()
        span = one_exit(acceptor, operation)
        assert span["data"]["gcs"] == expected, expected["op"]
        assert span["ec"] == 0


def test_a_batch_is_one_span(acceptor: Acceptor, gcs: storage.Client) -> None:
    bucket = gcs.bucket("orders")
    bucket.blob("b/2.json").upload_from_string(b"{}")

    def batch() -> None:
        with gcs.batch():
            bucket.blob("a/1.json").delete()
            bucket.blob("b/2.json").delete()

    span = one_exit(acceptor, batch)
    assert span["data"]["gcs"] == {
        "op": "batch",
        "projectId": PROJECT,
        "numberOfOperations": 2,
    }
    assert [b.name for b in bucket.list_blobs()] == []


def test_a_missing_object_is_recorded_and_reraised(acceptor: Acceptor, gcs: storage.Client) -> None:
    def download() -> Any:
        with pytest.raises(exceptions.NotFound):
            gcs.bucket("orders").blob("nope.json").download_as_bytes()

    span = one_exit(acceptor, download)
    assert span["ec"] == 1
    assert span["data"]["gcs"]["op"] == "objects.get"
    # the media download fails in google-resumable-media, before the library turns its
    # InvalidResponse into the NotFound the caller sees
    assert "404" in span["data"]["gcs"]["error"]


def test_a_missing_bucket_is_recorded_and_reraised(acceptor: Acceptor, gcs: storage.Client) -> None:
    def get() -> Any:
        with pytest.raises(exceptions.NotFound):
            gcs.get_bucket("no-such-bucket")

    span = one_exit(acceptor, get)
    assert span["ec"] == 1
    assert span["data"]["gcs"]["op"] == "buckets.get"
    assert span["data"]["gcs"]["error"].startswith("NotFound: 404")


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "expected"),
    [
        ("GET", "/b/orders/iam", None, None, {"op": "buckets.getIamPolicy", "bucket": "orders"}),
        (
            "GET",
            "/b/orders/o/o/acl/user-a",  # an object named "o" is a name, not the word
            {},
            None,
            {"op": "objectAcls.get", "bucket": "orders", "object": "o", "entity": "user-a"},
        ),
        (
            "POST",
            "/b/orders/defaultObjectAcl",
            {},
            {"entity": "allUsers"},
            {"op": "defaultAcls.insert", "bucket": "orders", "entity": "allUsers"},
        ),
        (
            "DELETE",
            "/projects/p1/hmacKeys/GOOG1",
            {},
            None,
            {"op": "hmacKeys.delete", "projectId": "p1", "accessId": "GOOG1"},
        ),
        ("POST", "/channels/stop", {}, {"id": "ch-1"}, {"op": "channels.stop", "entity": "ch-1"}),
        ("GET", "/b/orders/somethingNew", {}, None, None),
        ("HEAD", "/b/orders", {}, None, None),
    ],
)
def test_json_api_requests_map_to_operations(
    method: str, path: str, params: Any, body: Any, expected: Any
) -> None:
    assert api_data(method, path, params, body) == expected
