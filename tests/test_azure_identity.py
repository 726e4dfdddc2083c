"""The function app's entity id, host id and plugins (docs/CONTRACT.md §4, §6)."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

import azure.functions as func
import pytest

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.azure import azure_function
from instana_serverless.azure.identity import read_identity
from tests.conftest import AGENT_KEY
from tests.test_azure_support import http_request, index_app, invoke

AZURE_VARS = ("WEBSITE_OWNER_NAME", "WEBSITE_RESOURCE_GROUP", "WEBSITE_SITE_NAME")


@pytest.mark.parametrize(
    "environ, expected",
    [
        (
            {
                "WEBSITE_OWNER_NAME": "8f3e-11+rg-a-WestEuropewebspace",
                "WEBSITE_RESOURCE_GROUP": "rg-explicit",
                "WEBSITE_SITE_NAME": "shop",
            },
            "/subscriptions/8f3e-11/resourceGroups/rg-explicit/providers/Microsoft.Web/sites/shop",
        ),
        (  # no WEBSITE_RESOURCE_GROUP: taken from the webspace part of the owner name
            {"WEBSITE_OWNER_NAME": "s1+my-rg-EastUS2webspace-Linux", "WEBSITE_SITE_NAME": "a"},
            "/subscriptions/s1/resourceGroups/my-rg/providers/Microsoft.Web/sites/a",
        ),
        (
            {"WEBSITE_OWNER_NAME": "s1", "WEBSITE_SITE_NAME": "a"},
            "/subscriptions/s1/resourceGroups/unknown/providers/Microsoft.Web/sites/a",
        ),
        (
            {},
            "/subscriptions/unknown/resourceGroups/unknown/providers/Microsoft.Web/sites/unknown",
        ),
    ],
)
def test_entity_id(environ: Dict[str, str], expected: str) -> None:
    assert read_identity(environ).entity_id == expected


def test_missing_variables_warn_once_and_spans_stay_valid(
    acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in AZURE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEBSITE_SITE_NAME", "lonely")
    client = instana.configure(
        instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY), environ={}
    )
    try:
        app = func.FunctionApp()

        @app.route(route="x")
        @azure_function
        def x(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("x")

        info = index_app(app)["x"]
        with caplog.at_level(logging.WARNING, logger="instana_serverless"):
            invoke(info, http_request())
            invoke(info, http_request())
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "WEBSITE_OWNER_NAME" in warnings[0] and "WEBSITE_RESOURCE_GROUP" in warnings[0]
        assert "WEBSITE_SITE_NAME" not in warnings[0].split(" not set")[0]
        # The acceptor validates every bundle: both spans were accepted.
        spans = acceptor.spans()
        assert len(spans) == 2
        assert spans[0]["f"]["e"].endswith("/sites/lonely")
        assert client.reporter.host_id == spans[0]["f"]["e"]
    finally:
        instana.configure(environ={})


def _plugins(acceptor: Acceptor) -> List[List[Dict[str, Any]]]:
    return [bundle["metrics"]["plugins"] for bundle in acceptor.bundles]


def test_plugins_functionapp_process_python_and_secrets_masked(
    acceptor: Acceptor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBSITE_OWNER_NAME", "sub-1+rg-1-WestEuropewebspace")
    monkeypatch.setenv("WEBSITE_RESOURCE_GROUP", "rg-1")
    monkeypatch.setenv("WEBSITE_SITE_NAME", "plug")
    monkeypatch.setenv("REGION_NAME", "West Europe")
    monkeypatch.setenv("INSTANA_AGENT_KEY", AGENT_KEY)
    monkeypatch.setenv(
        "AzureWebJobsStorage",
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=x",
    )
    monkeypatch.setenv("ORDERS_BUS", "Endpoint=sb://x/;SharedAccessKey=abc123")
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    monkeypatch.setenv("GREETING", "hello")
    instana.configure(instana.Options(endpoint_url=acceptor.url, agent_key=AGENT_KEY), environ={})
    try:

        @azure_function
        def handler(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("ok")

        handler(http_request())
        handler(http_request())
        first, second = _plugins(acceptor)
        by_name = {p["name"]: p for p in first}
        entity = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Web/sites/plug"
        app_plugin = by_name["com.instana.plugin.azure.functionapp"]
        assert app_plugin["entityId"] == entity
        assert app_plugin["data"]["name"] == "plug"
        assert app_plugin["data"]["subscriptionId"] == "sub-1"
        assert app_plugin["data"]["resourceGroup"] == "rg-1"
        assert app_plugin["data"]["region"] == "West Europe"
        assert app_plugin["data"]["runtime"] == "python"
        process = by_name["com.instana.plugin.process"]
        env = process["data"]["env"]
        assert env["GREETING"] == "hello"
        for secret in ("INSTANA_AGENT_KEY", "AzureWebJobsStorage", "ORDERS_BUS", "DB_PASSWORD"):
            assert env[secret] == "<redacted>"
        body = str(acceptor.bundles)
        for value in (AGENT_KEY, "c2VjcmV0", "abc123", "hunter2"):
            assert value not in body
        assert "com.instana.plugin.python" in by_name
        # Snapshots go once per process; the runtime plugin with every bundle.
        assert [p["name"] for p in second] == ["com.instana.plugin.python"]
    finally:
        instana.configure(environ={})
