"""Per-client platform setup: source, host id and the function app and process plugins."""

from __future__ import annotations

import os
from threading import Lock
from typing import Optional

from .. import log
from ..client import Client
from ..metrics.process import process_plugin
from .identity import CLOUD_PROVIDER, AppIdentity, functionapp_plugin, read_identity

_setup_lock = Lock()
_setup_for: Optional[Client] = None
_identity: Optional[AppIdentity] = None


def identity_for(client: Client) -> AppIdentity:
    """The app identity, registered with ``client`` on its first traced invocation."""
    global _setup_for, _identity
    identity = _identity
    if _setup_for is client and identity is not None:
        return identity
    with _setup_lock:
        if _setup_for is client and _identity is not None:
            return _identity
        environ = os.environ
        identity = read_identity(environ)
        client.set_source(CLOUD_PROVIDER, identity.entity_id)
        client.set_host_id(identity.entity_id)
        client.reporter.add_plugin_once(functionapp_plugin(identity, environ))
        client.reporter.add_plugin_once(process_plugin(client.config, environ=environ))
        if identity.missing:
            log.config_warning(
                f"{', '.join(identity.missing)} not set: the function app is reported as "
                f"{identity.entity_id}"
            )
        _identity, _setup_for = identity, client
        return identity


def reset() -> None:
    """Forget the set-up client (tests change the environment between clients)."""
    global _setup_for, _identity
    with _setup_lock:
        _setup_for = _identity = None
