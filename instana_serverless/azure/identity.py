"""Which function app is running: its Azure resource id (the entity of every span) and the
``com.instana.plugin.azure.functionapp`` snapshot (docs/CONTRACT.md §4, §6).

Everything comes from the App Service environment variables, read once per client.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Mapping, Optional, Tuple

PLUGIN_NAME = "com.instana.plugin.azure.functionapp"
CLOUD_PROVIDER = "azure"
UNKNOWN = "unknown"

OWNER = "WEBSITE_OWNER_NAME"
RESOURCE_GROUP = "WEBSITE_RESOURCE_GROUP"
SITE_NAME = "WEBSITE_SITE_NAME"


class AppIdentity:
    """The function app's resource coordinates; parts the environment lacks are None."""

    __slots__ = ("app_name", "entity_id", "missing", "resource_group", "subscription")

    def __init__(
        self,
        subscription: Optional[str],
        resource_group: Optional[str],
        app_name: Optional[str],
        missing: Tuple[str, ...],
    ) -> None:
        self.subscription = subscription
        self.resource_group = resource_group
        self.app_name = app_name
        self.missing = missing
        # Missing parts become "unknown" so the id keeps the shape the backend parses.
        self.entity_id = (
            f"/subscriptions/{subscription or UNKNOWN}"
            f"/resourceGroups/{resource_group or UNKNOWN}"
            f"/providers/Microsoft.Web/sites/{app_name or UNKNOWN}"
        )


def _value(environ: Mapping[str, str], name: str) -> Optional[str]:
    value = environ.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _group_from_webspace(webspace: str) -> Optional[str]:
    """``<rg>-<Region>webspace[-Linux]`` → ``<rg>``: the owner name's second half.

    Used only when ``WEBSITE_RESOURCE_GROUP`` is missing; region names contain no ``-``.
    """
    if webspace.endswith("-Linux"):
        webspace = webspace[: -len("-Linux")]
    group, dash, region = webspace.rpartition("-")
    if dash and group and region.endswith("webspace"):
        return group
    return None


def read_identity(environ: Mapping[str, str]) -> AppIdentity:
    owner = _value(environ, OWNER)
    subscription: Optional[str] = None
    webspace: Optional[str] = None
    if owner is not None:
        subscription, _, webspace = owner.partition("+")
        subscription = subscription.strip() or None
    resource_group = _value(environ, RESOURCE_GROUP)
    if resource_group is None and webspace:
        resource_group = _group_from_webspace(webspace.strip())
    app_name = _value(environ, SITE_NAME)
    missing = tuple(
        name
        for name, part in (
            (OWNER, subscription),
            (RESOURCE_GROUP, resource_group),
            (SITE_NAME, app_name),
        )
        if part is None
    )
    return AppIdentity(subscription, resource_group, app_name, missing)


def functionapp_plugin(identity: AppIdentity, environ: Mapping[str, str]) -> Dict[str, Any]:
    """The function app snapshot, sent once per worker process (its cold start)."""
    data: Dict[str, Any] = {
        "runtime": "python",
        "runtimeVersion": "{}.{}.{}".format(*sys.version_info[:3]),
    }
    for key, value in (
        ("name", identity.app_name),
        ("subscriptionId", identity.subscription),
        ("resourceGroup", identity.resource_group),
        ("region", _value(environ, "REGION_NAME")),
        ("instanceId", _value(environ, "WEBSITE_INSTANCE_ID")),
        ("sku", _value(environ, "WEBSITE_SKU")),
        ("hostName", _value(environ, "WEBSITE_HOSTNAME")),
        ("functionsVersion", _value(environ, "FUNCTIONS_EXTENSION_VERSION")),
    ):
        if value is not None:
            data[key] = value
    return {"name": PLUGIN_NAME, "entityId": identity.entity_id, "data": data}
