"""Fargate plugins from ECS metadata documents (docs/CONTRACT.md §6): task, containers, Docker.

Entity ids follow the Instana AWS Fargate sensors: the task is its ARN, a container (and its
Docker entity) is ``<taskArn>::<containerName>``.
"""

from __future__ import annotations

from ..config import Config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

TASK_PLUGIN = "com.instana.plugin.aws.ecs.task"
CONTAINER_PLUGIN = "com.instana.plugin.aws.ecs.container"
DOCKER_PLUGIN = "com.instana.plugin.docker"

_TASK_ARN_LABEL = "com.amazonaws.ecs.task-arn"
_CLUSTER_LABEL = "com.amazonaws.ecs.cluster"


class Identity:
    """Who this container is; ``entity_id`` is both ``f.e`` and ``X-Instana-Host``."""

    __slots__ = ("container_name", "docker_id", "task_arn")

    def __init__(self, task_arn: str, container_name: str, docker_id: Optional[str]) -> None:
        self.task_arn = task_arn
        self.container_name = container_name
        self.docker_id = docker_id

    @property
    def entity_id(self) -> str:
        return container_entity_id(self.task_arn, self.container_name)


def container_entity_id(task_arn: str, container_name: str) -> str:
    return f"{task_arn}::{container_name}"


def _str(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _labels(container: Mapping[str, Any]) -> Mapping[str, Any]:
    labels = container.get("Labels")
    return labels if isinstance(labels, dict) else {}


def identity(container: Mapping[str, Any], task: Mapping[str, Any]) -> Optional[Identity]:
    """From the container document (and the task's ARN when the labels lack it)."""
    name = _str(container.get("Name"))
    arn = _str(_labels(container).get(_TASK_ARN_LABEL)) or _str(task.get("TaskARN"))
    if name is None or arn is None:
        return None
    return Identity(arn, name, _str(container.get("DockerId")))


def _limits(document: Mapping[str, Any]) -> Dict[str, Any]:
    limits = document.get("Limits")
    if not isinstance(limits, dict):
        return {}
    found: Dict[str, Any] = {}
    for source, target in (("CPU", "cpu"), ("Memory", "memory")):
        if isinstance(limits.get(source), (int, float)):
            found[target] = limits[source]
    return found


def _put(data: Dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "" and value != {}:
        data[key] = value


# plugin field <- metadata document field, copied when it is a non-empty string
_DEFINITION_FIELDS = (("taskDefinition", "Family"), ("taskDefinitionVersion", "Revision"))
_TASK_FIELDS = (
    ("clusterArn", "Cluster"),
    *_DEFINITION_FIELDS,
    ("availabilityZone", "AvailabilityZone"),
    ("serviceName", "ServiceName"),
    ("launchType", "LaunchType"),
    ("desiredStatus", "DesiredStatus"),
    ("knownStatus", "KnownStatus"),
    ("pullStartedAt", "PullStartedAt"),
    ("pullStoppedAt", "PullStoppedAt"),
)
_CONTAINER_FIELDS = (
    ("dockerId", "DockerId"),
    ("dockerName", "DockerName"),
    ("image", "Image"),
    ("imageId", "ImageID"),
    ("desiredStatus", "DesiredStatus"),
    ("knownStatus", "KnownStatus"),
    ("createdAt", "CreatedAt"),
    ("startedAt", "StartedAt"),
    ("type", "Type"),
)


def _copy(
    data: Dict[str, Any], document: Mapping[str, Any], fields: Sequence[Tuple[str, str]]
) -> None:
    for key, source in fields:
        _put(data, key, _str(document.get(source)))


def task_plugin(task: Mapping[str, Any], config: Config) -> Optional[Dict[str, Any]]:
    arn = _str(task.get("TaskARN"))
    if arn is None:
        return None
    data: Dict[str, Any] = {"taskArn": arn}
    _copy(data, task, _TASK_FIELDS)
    _put(data, "limits", _limits(task))
    _put(data, "instanaZone", config.zone)
    if config.tags:
        data["tags"] = dict(config.tags)
    return {"name": TASK_PLUGIN, "entityId": arn, "data": data}


def _container_data(
    container: Mapping[str, Any], task: Mapping[str, Any], task_arn: str, instrumented: bool
) -> Dict[str, Any]:
    labels = _labels(container)
    data: Dict[str, Any] = {"taskArn": task_arn, "containerName": container.get("Name")}
    _copy(data, container, _CONTAINER_FIELDS)
    _put(data, "clusterArn", _str(labels.get(_CLUSTER_LABEL)) or _str(task.get("Cluster")))
    _copy(data, task, _DEFINITION_FIELDS)
    _put(data, "limits", _limits(container))
    if instrumented:
        data["instrumented"] = True
        data["runtime"] = "python"
    return data


def container_plugins(
    container: Mapping[str, Any], task: Mapping[str, Any], me: Identity
) -> List[Dict[str, Any]]:
    """Every container of the task (ours marked instrumented); ours alone without a task doc."""
    documents: List[Mapping[str, Any]] = []
    listed = task.get("Containers")
    if isinstance(listed, list):
        documents = [c for c in listed if isinstance(c, dict) and _str(c.get("Name"))]
    if not any(c.get("Name") == me.container_name for c in documents):
        documents.append(container)
    plugins = []
    for document in documents:
        name = str(document.get("Name"))
        own = name == me.container_name
        source = container if own else document
        plugins.append(
            {
                "name": CONTAINER_PLUGIN,
                "entityId": container_entity_id(me.task_arn, name),
                "data": _container_data(source, task, me.task_arn, own),
            }
        )
    return plugins


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _section(document: Any, key: str) -> Dict[str, Any]:
    value = document.get(key) if isinstance(document, dict) else None
    return value if isinstance(value, dict) else {}


def _cpu(stats: Mapping[str, Any]) -> Dict[str, Any]:
    """Usage over the stats interval as a fraction of one CPU-second per second (Docker's
    formula: usage delta over system delta, times online CPUs)."""
    now = stats.get("cpu_stats")
    before = stats.get("precpu_stats")
    if not isinstance(now, dict):
        return {}
    cpu: Dict[str, Any] = {}
    usage = _section(now, "cpu_usage")
    prev_usage = _section(before, "cpu_usage")
    system = _number(now.get("system_cpu_usage"))
    prev_system = _number(before.get("system_cpu_usage")) if isinstance(before, dict) else None
    cpus = _number(now.get("online_cpus"))
    if cpus is None:
        per_cpu = usage.get("percpu_usage")
        cpus = len(per_cpu) if isinstance(per_cpu, list) and per_cpu else 1
    if system is not None and prev_system is not None and system > prev_system:
        system_delta = system - prev_system
        for source, target in (
            ("total_usage", "total_usage"),
            ("usage_in_usermode", "user_usage"),
            ("usage_in_kernelmode", "system_usage"),
        ):
            value, prev = _number(usage.get(source)), _number(prev_usage.get(source))
            if value is not None and prev is not None:
                cpu[target] = round(max(0.0, value - prev) / system_delta * cpus, 6)
    throttling = now.get("throttling_data")
    if isinstance(throttling, dict):
        count = _number(throttling.get("throttled_periods"))
        spent = _number(throttling.get("throttled_time"))
        if count is not None:
            cpu["throttling_count"] = count
        if spent is not None:
            cpu["throttling_time"] = spent
    return cpu


_MEMORY_STATS = (
    "active_anon",
    "active_file",
    "inactive_anon",
    "inactive_file",
    "total_cache",
    "total_rss",
    "anon",
    "file",
)


def _memory(stats: Mapping[str, Any]) -> Dict[str, Any]:
    memory_stats = stats.get("memory_stats")
    if not isinstance(memory_stats, dict):
        return {}
    memory: Dict[str, Any] = {}
    for key in ("usage", "max_usage", "limit"):
        value = _number(memory_stats.get(key))
        if value is not None:
            memory[key] = value
    detail = memory_stats.get("stats")
    if isinstance(detail, dict):
        for key in _MEMORY_STATS:
            value = _number(detail.get(key))
            if value is not None:
                memory[key] = value
    return memory


def _network(stats: Mapping[str, Any]) -> Dict[str, Any]:
    networks = stats.get("networks")
    if not isinstance(networks, dict) or not networks:
        return {}
    totals: Dict[str, Dict[str, float]] = {"rx": {}, "tx": {}}
    for interface in networks.values():
        if not isinstance(interface, dict):
            continue
        for direction in ("rx", "tx"):
            for field in ("bytes", "packets", "errors", "dropped"):
                value = _number(interface.get(f"{direction}_{field}"))
                if value is not None:
                    bucket = totals[direction]
                    bucket[field] = bucket.get(field, 0) + value
    return {k: v for k, v in totals.items() if v}


def _blkio(stats: Mapping[str, Any]) -> Dict[str, Any]:
    blkio = stats.get("blkio_stats")
    entries = blkio.get("io_service_bytes_recursive") if isinstance(blkio, dict) else None
    if not isinstance(entries, list):
        return {}
    read = write = 0.0
    seen = False
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        value = _number(entry.get("value"))
        op = str(entry.get("op", "")).lower()
        if value is None:
            continue
        if op == "read":
            read += value
            seen = True
        elif op == "write":
            write += value
            seen = True
    return {"blk_read": read, "blk_write": write} if seen else {}


def docker_plugin(
    container: Mapping[str, Any], stats: Optional[Mapping[str, Any]], me: Identity
) -> Dict[str, Any]:
    labels = _labels(container)
    data: Dict[str, Any] = {}
    _put(data, "Id", _str(container.get("DockerId")))
    _put(data, "Created", _str(container.get("CreatedAt")))
    _put(data, "Started", _str(container.get("StartedAt")))
    _put(data, "Image", _str(container.get("Image")))
    _put(data, "Labels", dict(labels) if labels else None)
    networks = container.get("Networks")
    if isinstance(networks, list) and networks and isinstance(networks[0], dict):
        _put(data, "NetworkMode", _str(networks[0].get("NetworkMode")))
    if stats:
        for key, part in (
            ("cpu", _cpu(stats)),
            ("memory", _memory(stats)),
            ("network", _network(stats)),
            ("blkio", _blkio(stats)),
        ):
            _put(data, key, part)
    return {"name": DOCKER_PLUGIN, "entityId": me.entity_id, "data": data}
