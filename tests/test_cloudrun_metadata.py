"""Cloud Run identity: the metadata server (emulated on loopback) and the K_* variables.

``MetadataEmulator`` answers like ``metadata.google.internal`` (response shapes from
https://cloud.google.com/run/docs/container-contract#metadata-server and
https://cloud.google.com/compute/docs/metadata/querying-metadata): it refuses requests
without ``Metadata-Flavor: Google`` (403) and sets that header on its answers. The other
Cloud Run test modules reuse it, through the ``emulator`` fixture of ``conftest``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

import pytest

from demo.loopback import LoopbackServer, Reply, Request
from instana_serverless.gcp import metadata as gcp_metadata
from instana_serverless.gcp.metadata import (
    FAILED,
    READY,
    CloudRunEnvironment,
    MetadataFetcher,
    MetadataServer,
    metadata_host,
)

INSTANCE_ID = "00bf4bf02db3546c7ba0e8ae4f4bd4e2b6f4cfa9c4fe1f0a7b6b0e8f6a8d1e2f3a4b5c6d7e8f90a1b2"
PROJECT_ID = "shop-prod-4711"
NUMERIC_PROJECT_ID = 731248915532
REGION = "europe-west3"


class MetadataEmulator(LoopbackServer):
    """``metadata.google.internal`` on 127.0.0.1; ``mode`` switches its behaviour."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | partial | down | no-flavor
        self.delay_s = 0.0
        self.paths: List[str] = []
        super().__init__(self._respond)
        self.host = self.address

    def _respond(self, request: Request) -> Reply:
        self.paths.append(request.path)
        if self.delay_s:
            time.sleep(self.delay_s)
        status, body = self.answer(request.path, request.headers.get("metadata-flavor"))
        headers = {} if self.mode == "no-flavor" else {"Metadata-Flavor": "Google"}
        return status, body.encode(), headers

    def answer(self, path: str, flavor: Optional[str]) -> tuple[int, str]:
        if flavor != "Google":
            return 403, "Missing Metadata-Flavor:Google header."
        if self.mode == "down":
            return 503, "unavailable"
        base = "/computeMetadata/v1/"
        if not path.startswith(base):
            return 404, "not found"
        rest = path[len(base) :]
        region_path = f"projects/{NUMERIC_PROJECT_ID}/regions/{REGION}"
        if rest == "?recursive=true":
            instance: Dict[str, Any] = {
                "id": INSTANCE_ID,
                "zone": f"projects/{NUMERIC_PROJECT_ID}/zones/{REGION}-1",
                "serviceAccounts": {"default": {"email": "svc@example.iam", "scopes": []}},
            }
            if self.mode != "partial":
                instance["region"] = region_path
            document = {
                "instance": instance,
                "project": {"projectId": PROJECT_ID, "numericProjectId": NUMERIC_PROJECT_ID},
            }
            return 200, json.dumps(document)
        singles = {
            "project/project-id": PROJECT_ID,
            "project/numeric-project-id": str(NUMERIC_PROJECT_ID),
            "instance/region": region_path,
            "instance/id": INSTANCE_ID,
        }
        if rest in singles:
            return 200, singles[rest]
        return 404, "not found"


def test_reads_everything_with_one_recursive_request(emulator: MetadataEmulator) -> None:
    meta = MetadataServer(emulator.host).read()
    assert meta.instance_id == INSTANCE_ID
    assert meta.project_id == PROJECT_ID
    assert meta.numeric_project_id == NUMERIC_PROJECT_ID
    assert meta.region == REGION
    assert emulator.paths == ["/computeMetadata/v1/?recursive=true"]


def test_missing_values_are_read_one_by_one(emulator: MetadataEmulator) -> None:
    emulator.mode = "partial"
    meta = MetadataServer(emulator.host).read()
    assert meta.region == REGION
    assert "/computeMetadata/v1/instance/region" in emulator.paths
    assert "/computeMetadata/v1/instance/id" not in emulator.paths


def test_an_answer_without_the_flavor_header_is_not_trusted(emulator: MetadataEmulator) -> None:
    emulator.mode = "no-flavor"
    with pytest.raises(gcp_metadata.MetadataError, match="Metadata-Flavor"):
        MetadataServer(emulator.host).read()


def test_fetcher_runs_in_the_background_once(emulator: MetadataEmulator) -> None:
    emulator.delay_s = 0.2
    fetcher = MetadataFetcher(MetadataServer(emulator.host))
    started = time.perf_counter()
    fetcher.start()
    fetcher.start()
    assert time.perf_counter() - started < 0.05, "start must not block"
    assert fetcher.wait(0.005) is None  # a request waits a few ms at most
    meta = fetcher.wait(2.0)
    assert meta is not None and meta.instance_id == INSTANCE_ID
    assert fetcher.state == READY
    fetcher.start()
    assert len(emulator.paths) == 1


def test_fetcher_gives_up_after_retries(emulator: MetadataEmulator) -> None:
    emulator.mode = "down"
    fetcher = MetadataFetcher(MetadataServer(emulator.host), attempts=3, retry_delay_s=0.01)
    fetcher.start()
    assert fetcher.wait(3.0) is None
    assert fetcher.done and fetcher.state == FAILED
    assert "503" in (fetcher.error or "")
    assert len(emulator.paths) == 3


def test_unreachable_server_fails_quickly() -> None:
    from tests.conftest import free_port

    fetcher = MetadataFetcher(
        MetadataServer(f"127.0.0.1:{free_port()}", timeout_s=0.5), attempts=2, retry_delay_s=0.01
    )
    fetcher.start()
    fetcher.wait(3.0)
    assert fetcher.state == FAILED


def test_host_override_and_default() -> None:
    assert metadata_host({}) == "metadata.google.internal"
    assert metadata_host({"INSTANA_GCP_METADATA_HOST": "127.0.0.1:9999"}) == "127.0.0.1:9999"
    assert metadata_host({"INSTANA_GCP_METADATA_HOST": "http://10.0.0.1:80/"}) == "10.0.0.1:80"
    assert metadata_host({"INSTANA_GCP_METADATA_HOST": "  "}) == "metadata.google.internal"


def test_host_precedence_and_each_variables_format() -> None:
    ours, google, instana = (
        "INSTANA_GCP_METADATA_HOST",
        "GCE_METADATA_HOST",
        "GOOGLE_CLOUD_RUN_METADATA_ENDPOINT",
    )
    everything = {ours: "127.0.0.1:1", google: "127.0.0.1:2", instana: "http://127.0.0.1:3"}
    assert metadata_host(everything) == "127.0.0.1:1"
    assert metadata_host({**everything, ours: ""}) == "127.0.0.1:2"
    assert metadata_host({instana: "http://127.0.0.1:3"}) == "127.0.0.1:3"
    # The official sensors' variable is a URL, possibly with a path they append to.
    assert metadata_host({instana: "http://127.0.0.1:3/"}) == "127.0.0.1:3"
    assert metadata_host({instana: "HTTP://10.0.0.1:80/computeMetadata"}) == "10.0.0.1:80"
    # Google's variable is host[:port].
    assert metadata_host({google: "metadata.internal.example"}) == "metadata.internal.example"
    # Unusable values fall through to the next variable, then to the default.
    assert metadata_host({google: "https://127.0.0.1:2", instana: "http://h:3"}) == "h:3"
    assert metadata_host({instana: "http://"}) == "metadata.google.internal"


def test_environment_identity() -> None:
    env = CloudRunEnvironment(
        {
            "K_SERVICE": "shop",
            "K_REVISION": "shop-00042-xyz",
            "K_CONFIGURATION": "shop",
            "PORT": "8080",
        }
    )
    assert env.host_id == "gcp:cloud-run:revision:shop-00042-xyz"
    assert (env.service, env.configuration, env.port) == ("shop", "shop", "8080")
    assert CloudRunEnvironment({}).host_id is None
