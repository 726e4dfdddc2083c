"""The ``com.instana.plugin.process`` snapshot of the worker process (DESIGN §6).

A container's or function app's environment is where credentials live, often under names that
look harmless (``AzureWebJobsStorage`` holds a storage account key, ``*_CONNECTION`` settings
hold Service Bus keys, a ``*_SAS_URI`` a SAS token). So values are masked by name (the
configured secrets matcher plus the names below), by content (connection-string keys), and the
agent key always, by name and wherever its value appears; credentials inside URLs
(``DATABASE_URL=postgres://user:pw@db/app``) are masked in any value. The command line gets
the same treatment (``--env INSTANA_AGENT_KEY=...``, ``--password x``).
"""

from __future__ import annotations

import os
import sys
from time import time

from ..config import Config
from ..secrets import MASK, mask_url_credentials

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Sequence

PLUGIN_NAME = "com.instana.plugin.process"
AGENT_KEY_VARIABLE = "INSTANA_AGENT_KEY"

_SECRET_NAME_PARTS = ("connection", "token", "sas", "azurewebjobsstorage", "credential")
_SECRET_VALUE_PARTS = (
    "accountkey=",
    "sharedaccesskey=",
    "sharedaccesssignature=",
    "password=",
    "pwd=",
    "sig=",
)
_MAX_VALUE_LENGTH = 1000
# Approximate (first import): the worker imports us right after it starts, and the exact
# start is not worth a /proc read on every platform.
_STARTED_MS = int(time() * 1000)


def _looks_secret(name: str, value: str, config: Config) -> bool:
    if config.secrets.is_secret(name):
        return True
    lowered = name.lower()
    if any(part in lowered for part in _SECRET_NAME_PARTS):
        return True
    folded = value.lower()
    return any(part in folded for part in _SECRET_VALUE_PARTS)


def _masked_value(name: str, value: str, config: Config) -> str:
    """``value`` of the variable (or option) ``name`` as it may be reported."""
    agent_key = config.agent_key
    is_key = name == AGENT_KEY_VARIABLE or bool(agent_key and agent_key in value)
    if is_key or _looks_secret(name, value, config):
        return MASK
    return mask_url_credentials(value)


def masked_environment(environ: Mapping[str, str], config: Config) -> Dict[str, str]:
    env: Dict[str, str] = {}
    for name, value in environ.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        env[name] = _masked_value(name, value, config)[:_MAX_VALUE_LENGTH]
    return env


def masked_arguments(args: Sequence[str], config: Config) -> List[str]:
    """Command-line arguments masked the way the environment is: ``NAME=value`` assignments
    (``gunicorn --env INSTANA_AGENT_KEY=...``), ``--password x`` and ``--password=x`` options
    whose name looks secret, credentials in URLs, and the agent key wherever it appears."""
    masked: List[str] = []
    hide_next = False
    for arg in args:
        if not isinstance(arg, str):
            continue
        if hide_next:
            hide_next = False
            if not arg.startswith("-"):
                masked.append(MASK)
                continue
        if arg.startswith("-"):
            option = arg.lstrip("-")
            dashes = arg[: len(arg) - len(option)]
            name, equals, value = option.partition("=")
            if equals:
                if _looks_secret(name, value, config):
                    shown = MASK
                else:
                    shown = _masked_assignment(value, config)
                masked.append(f"{dashes}{name}={shown}")
                continue
            hide_next = bool(name) and _looks_secret(name, "", config)
            masked.append(_masked_value("", arg, config))
            continue
        masked.append(_masked_assignment(arg, config))
    agent_key = config.agent_key
    if agent_key:  # however it got there (a quoted list, a JSON argument)
        masked = [arg.replace(agent_key, MASK) for arg in masked]
    return masked


def _masked_assignment(arg: str, config: Config) -> str:
    name, equals, value = arg.partition("=")
    if equals and name and " " not in name:
        return f"{name}={_masked_value(name, value, config)}"
    return _masked_value("", arg, config)


def _user_and_group() -> Dict[str, str]:
    found: Dict[str, str] = {}
    try:
        import grp
        import pwd

        found["user"] = pwd.getpwuid(os.getuid()).pw_name
        found["group"] = grp.getgrgid(os.getgid()).gr_name
    except (ImportError, KeyError, OSError, AttributeError):
        pass
    return found


def process_plugin(
    config: Config,
    *,
    container_type: Optional[str] = None,
    container: Optional[str] = None,
    host_name: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Dict[str, Any]:
    """The snapshot; on containers tied to ``container`` and the host entity ``host_name``."""
    pid = os.getpid()
    data: Dict[str, Any] = {
        "pid": pid,
        "name": sys.executable,
        "exec": sys.executable,
        "args": masked_arguments(sys.argv[1:], config),
        "env": masked_environment(os.environ if environ is None else environ, config),
        "start": _STARTED_MS,
    }
    if container_type:
        data["containerType"] = container_type
    if container:
        data["container"] = container
    if host_name:
        data["com.instana.plugin.host.name"] = host_name
    data.update(_user_and_group())
    return {"name": PLUGIN_NAME, "entityId": str(pid), "data": data}
