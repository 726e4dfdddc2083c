"""What every demo scenario gets: the acceptor, progress output, the environment of the
platforms' processes, and the subprocesses it started, none of which outlives the demo."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple

from instana_serverless.acceptor.server import Acceptor

ROOT = Path(__file__).resolve().parent.parent
KEY = "demo-agent-key"
STOP_WAIT_S = 5.0
# Settings of the shell the demo runs in that would make an emulated platform look like
# another one, or point it at real cloud accounts.
_NOT_INHERITED = ("INSTANA_", "AWS_", "K_", "FUNCTIONS_", "WEBSITE_", "GOOGLE_", "AZURE")


def progress(message: str) -> None:
    print(f"==> {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    def __init__(self, acceptor: Acceptor, out_dir: Path) -> None:
        self.acceptor = acceptor
        self.out_dir = out_dir
        self.log_dir = out_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._processes: List[Tuple[str, subprocess.Popen[Any]]] = []
        self._files: List[IO[str]] = []
        self._groups: Set[int] = set()  # pids of processes that lead their own group
        self._lock = threading.Lock()

    def reporting_env(self) -> Dict[str, str]:
        """The two settings that point instrumented code at the acceptor."""
        return {"INSTANA_ENDPOINT_URL": self.acceptor.url, "INSTANA_AGENT_KEY": KEY}

    def env(self, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """The environment of a platform process: reporting to the acceptor, the repository
        importable, nothing of the surrounding shell's cloud settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        env.update(self.reporting_env())
        env.update(
            {"PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
        )
        env.update(extra or {})
        return env

    def log_file(self, name: str) -> IO[str]:
        """A fresh log file for one process's output, closed when the demo stops."""
        file = (self.log_dir / f"{name}.log").open("w", encoding="utf-8")
        self._files.append(file)
        return file

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def adopt(self, name: str, proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        """Stop ``proc`` with the others when the demo ends, however it ends."""
        with self._lock:
            self._processes.append((name, proc))
        return proc

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], *, pipe: bool = False
    ) -> subprocess.Popen[str]:
        """``argv`` as a subprocess of the demo, its output to a log file (or a pipe).

        It leads a process group of its own, so a server's workers are stopped with it and a
        Ctrl-C reaches only the demo, which then stops everything in order."""
        output: Any = subprocess.PIPE if pipe else self.log_file(name)
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=str(ROOT),
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._groups.add(proc.pid)
        return self.adopt(name, proc)

    def _signal(self, proc: subprocess.Popen[Any], signum: int) -> None:
        if proc.pid in self._groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)
        elif proc.poll() is None:
            proc.send_signal(signum)

    def stop(self, procs: Optional[Sequence[subprocess.Popen[Any]]] = None) -> None:
        """SIGTERM, as a platform stops an instance, then SIGKILL for what is still running
        after a few seconds; ``procs`` default to every process the demo started.

        A Ctrl-C (or SIGTERM) meanwhile does not cut this short: it is raised afterwards."""
        with _signals_deferred() as deferred:
            with self._lock:
                chosen = [p for p in self._processes if procs is None or p[1] in procs]
            for _, proc in chosen:
                self._signal(proc, signal.SIGTERM)
            deadline = time.monotonic() + STOP_WAIT_S
            for entry in chosen:
                name, proc = entry
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    print(f"    {name} did not stop on SIGTERM; killing it", file=sys.stderr)
                # Whatever of its group is still there (a worker whose master died) goes too.
                self._signal(proc, signal.SIGKILL)
                proc.wait()
                if proc.stdout is not None:
                    proc.stdout.close()
                with self._lock:
                    self._processes.remove(entry)
                    self._groups.discard(proc.pid)
            if procs is None:
                for file in self._files:
                    file.close()
                self._files.clear()
        if deferred:
            raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_deferred() -> Iterator[List[int]]:
    """Records SIGINT and SIGTERM instead of acting on them, in the main thread."""
    deferred: List[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield deferred
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(signum, lambda n, _: deferred.append(n)) for signum in signals]
    try:
        yield deferred
    finally:
        for signum, handler in zip(signals, previous):
            signal.signal(signum, handler)


@contextlib.contextmanager
def listening(
    argv: Sequence[str],
    port: int,
    env: Mapping[str, str],
    name: str,
    *,
    cwd: Optional[str] = None,
    new_session: bool = False,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` in a subprocess (a process group of its own with ``new_session``) until it
    listens on ``port``; stopped at the end. Its output goes to a temporary file (a pipe
    nobody reads would block a chatty server) and is in the error when it dies first."""
    import tempfile

    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd if cwd is not None else str(ROOT),
            env=dict(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
        try:
            try:
                wait_for_port(port, proc, name, timeout)
            except RuntimeError as exc:
                proc.wait(5)
                output.seek(0)
                said = output.read().decode(errors="replace")
                raise RuntimeError(f"{exc}\n{said}") from None
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_for_port(port: int, proc: subprocess.Popen[Any], name: str, timeout: float) -> None:
    """Until something accepts connections on ``port``; fails early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} is not listening on port {port} after {timeout:.0f} s")
