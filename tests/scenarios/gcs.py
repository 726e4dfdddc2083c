"""google-cloud-storage against gcp-storage-emulator (STORAGE_EMULATOR_HOST, in memory)."""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from tests.scenarios import Scenario
from tests.servers import GcsEmulator

BUCKET = "orders"


def client_for(target: GcsEmulator) -> storage.Client:
    """A client of the emulator: what STORAGE_EMULATOR_HOST sets up, made explicit so a
    test's monkeypatch.undo() cannot point it at Google."""
    return storage.Client(
        project="demo-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": target.url},
    )


def ensure_bucket(client: storage.Client) -> storage.Bucket:
    """The scenario bucket, made outside any trace (it may or may not exist yet)."""
    bucket = client.bucket(BUCKET)
    if not bucket.exists():
        client.create_bucket(BUCKET)
    return bucket


class ListBuckets(Scenario):
    label = "gcs-buckets-list"
    fixture = "gcs_emulator"
    imports = ("google.cloud.storage",)
    span_name = "gcs"
    error_path = ("gcs",)
    error = exceptions.NotFound

    def call(self, target: GcsEmulator) -> Any:
        return [bucket.name for bucket in client_for(target).list_buckets()]  # one request

    def failing_call(self, target: GcsEmulator) -> Any:
        return client_for(target).get_bucket("no-such-bucket")


SCENARIOS = [ListBuckets()]
