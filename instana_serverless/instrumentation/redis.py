"""Exit spans ``redis`` for redis-py: sync and asyncio clients, pipelines, and Redis Cluster.

One logical command is one span, as the Instana sensors send it:
``redis.{connection, driver, command}``, and for a pipeline ``command = "PIPELINE"`` with
``subCommands`` (the queued command names). Only command names are recorded, never keys or
values. ``connection`` is ``redis://host:port/db`` from the client's pool settings (never the
password); a cluster client reports its default node.

Patched: ``Redis.execute_command`` (and a pipeline's ``immediate_execute_command``, used while
it WATCHes), ``Pipeline.execute``, ``RedisCluster.execute_command`` and
``ClusterPipeline.execute`` — each in ``redis.client``, ``redis.asyncio.client``,
``redis.cluster`` and ``redis.asyncio.cluster``. A cluster command that internally runs
commands on node clients stays one span: the row covers itself.
"""

from __future__ import annotations

from ._patches import Method

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from ._wrap import Call, StartResult

DRIVER = "redis-py"
MAX_SUB_COMMANDS = 100
_MAX_NAME = 64


def _name(value: Any) -> str:
    """A command name as text (redis-py accepts str, bytes and ``"CLUSTER SLOTS"`` forms)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)[:_MAX_NAME]


def _url(host: Any, port: Any, db: Any) -> Optional[str]:
    if not host:
        return None
    url = f"redis://{host}:{port or 6379}"
    return url if db is None else f"{url}/{db}"


def _connection(client: Any) -> Optional[str]:
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        kwargs = getattr(pool, "connection_kwargs", None)
        if type(kwargs) is dict:
            path = kwargs.get("path")
            if path:  # unix socket
                return f"redis+unix://{path}"
            return _url(kwargs.get("host"), kwargs.get("port"), kwargs.get("db"))
        return None
    # Redis Cluster: no pool of its own; the node commands go to by default.
    nodes = getattr(client, "nodes_manager", None)
    if nodes is None:  # an asyncio cluster pipeline keeps its cluster client
        nodes = getattr(getattr(client, "cluster_client", None), "nodes_manager", None)
    node = getattr(nodes, "default_node", None) if nodes is not None else None
    if node is None:
        return None
    return _url(getattr(node, "host", None), getattr(node, "port", None), None)


def _data(client: Any, command: str) -> Dict[str, Any]:
    redis: Dict[str, Any] = {"driver": DRIVER, "command": command}
    connection = _connection(client)
    if connection is not None:
        redis["connection"] = connection
    return {"redis": redis}


def start_command(call: Call) -> StartResult:
    args = call.args
    if len(args) < 2:
        return None  # no command: redis-py raises its own error, untraced
    if not call.recording:
        return "redis", None, ("redis",)
    return "redis", _data(args[0], _name(args[1])), ("redis",)


def _queued(pipeline: Any) -> List[Any]:
    """The queued commands' arguments: ``command_stack`` of (args, options) for a plain
    pipeline, the execution strategy's ``PipelineCommand`` queue for a cluster pipeline."""
    stack = getattr(pipeline, "command_stack", None)
    if stack:
        return [entry[0] for entry in stack]
    strategy = getattr(pipeline, "_execution_strategy", None)
    queue = getattr(strategy, "_command_queue", None) if strategy is not None else None
    if queue:
        return [command.args for command in queue]
    return []


def start_pipeline(call: Call) -> StartResult:
    pipeline = call.args[0]
    queued = _queued(pipeline)
    if not queued:
        return None  # an empty pipeline sends nothing
    if not call.recording:
        return "redis", None, ("redis",)
    data = _data(pipeline, "PIPELINE")
    data["redis"]["subCommands"] = [_name(args[0]) for args in queued[:MAX_SUB_COMMANDS] if args]
    return "redis", data, ("redis",)


def _client_patches() -> tuple[Method, ...]:
    return (
        Method("Redis", "execute_command", start_command),
        Method("Pipeline", "immediate_execute_command", start_command),
        Method("Pipeline", "execute", start_pipeline),
    )


def _cluster_patches() -> tuple[Method, ...]:
    return (
        Method("RedisCluster", "execute_command", start_command),
        Method("ClusterPipeline", "execute", start_pipeline),
    )


PATCHES = {
    "redis.client": _client_patches(),
    "redis.asyncio.client": _client_patches(),
    "redis.cluster": _cluster_patches(),
    "redis.asyncio.cluster": _cluster_patches(),
}
