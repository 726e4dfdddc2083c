"""The ``com.instana.plugin.process`` snapshot of the worker process (docs/CONTRACT.md §6).

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
# Fallback for ``start`` where /proc cannot tell: the worker imports us right after it starts.
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


def _command_args() -> List[str]:
    """The command line without the interpreter, as the Instana sensors send it: the script
    path (or ``-m module``, ``-c``) and its arguments. From /proc where there is one (it keeps
    the interpreter's own options), else from ``sys.argv``."""
    try:
        with open("/proc/self/cmdline", "rb") as file:
            parts = file.read().split(b"\0")
        if parts and parts[-1] == b"":
            parts.pop()
        if len(parts) > 1:
            return [os.fsdecode(part) for part in parts[1:]]
    except OSError:
        pass
    return [arg for arg in sys.argv if arg]


def _executable() -> str:
    """The interpreter binary itself, symlinks (venvs, ``python3`` -> ``python3.12``) resolved."""
    try:
        return os.readlink("/proc/self/exe")
    except OSError:
        return os.path.realpath(sys.executable) if sys.executable else ""


_start_cache: List[int] = []


def _start_ms() -> int:
    """When the process started, in epoch milliseconds (the unit of the Go and Node.js
    sensors' ``start``), from the kernel's start tick where /proc has it; read once."""
    if not _start_cache:
        _start_cache.append(_read_start_ms())
    return _start_cache[0]


if hasattr(os, "register_at_fork"):  # a forked worker started later than its parent
    os.register_at_fork(after_in_child=_start_cache.clear)


def _read_start_ms() -> int:
    try:
        with open("/proc/self/stat", "rb") as file:
            stat = file.read()
        # Fields after the parenthesised command name; starttime is field 22 overall.
        start_ticks = int(stat.rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as file:
            uptime_s = float(file.read().split()[0])
        ticks_per_s = os.sysconf("SC_CLK_TCK")
        started_s = time() - uptime_s + start_ticks / ticks_per_s
        return int(started_s * 1000)
    except (OSError, ValueError, IndexError, AttributeError):
        return _STARTED_MS


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
        "exec": _executable(),
        "args": masked_arguments(_command_args(), config),
        "env": masked_environment(os.environ if environ is None else environ, config),
        "start": _start_ms(),
    }
    if container_type:
        data["containerType"] = container_type
    if container:
        data["container"] = container
    if host_name:
        data["com.instana.plugin.host.name"] = host_name
    data.update(_user_and_group())
    return {"name": PLUGIN_NAME, "entityId": str(pid), "data": data}
