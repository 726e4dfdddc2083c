"""The stack sampler: one daemon thread that reads the stacks of traced invocations.

``Client`` creates a ``Profiler`` when AutoProfile is on and calls ``begin`` for every
recording entry span. From then until the entry span ends, the sampler thread takes the
invocation thread's stack every interval (``sys._current_frames``, no ``sys.settrace``, no
signal), run-length encoded. When the entry span finishes, its session turns the samples into
inferred spans (buffered right after the entry span, so they leave in the same flush) and
into a call tree for the process profile and the trace's own profile.

The thread is started by the first session and parks on a lock whenever no session is open
(a frozen Lambda sandbox costs nothing); on long-running platforms ``run_continuously`` keeps
it sampling every thread of the process for the process profile.
"""

from __future__ import annotations

import os
import sys
from _thread import allocate_lock, get_ident, start_new_thread
from collections import deque
from time import monotonic, perf_counter, sleep

from .. import log
from ..ids import new_id
from ..span import EXIT, INTERMEDIATE, Span
from .calltree import CallTree
from .frames import MODULE_CODE, Codes, base_of, importer_of, walk
from .inferred import Call, Run, after_measured_siblings, calls, significant

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

    from ..client import Client
    from ..config import Config
    from ..span import FinishHook
    from ..transport.endpoint import Endpoint

# A session keeps at most this many runs (a run is one stack, however many samples in a row
# showed it): bounded memory for the longest invocation. Later samples still feed the profile.
MAX_RUNS = 20_000
# Imports remembered per invocation (where each module was imported from) at most.
MAX_IMPORTS = 1000
# A session whose entry span never finishes (a leaked span) stops being sampled after this long
# (the longest a Lambda invocation can run).
MAX_SESSION_S = 900.0
# Trace profiles waiting for the local acceptor; the oldest are dropped beyond this.
MAX_PENDING_PROFILES = 100
# Profiles go to a loopback acceptor at most this often (the rest wait for a later flush).
SEND_INTERVAL_S = 1.0
PROFILES_RESOURCE = "profiles"


class Session:
    """One traced invocation being sampled: its thread, its samples, the real spans under it."""

    __slots__ = (
        "_ended",
        "base",
        "entry",
        "exits",
        "forward",
        "held",
        "imports",
        "measured",
        "profiler",
        "runs",
        "shared",
        "start",
        "thread_id",
        "truncated",
    )

    def __init__(self, profiler: Profiler, entry: Span, forward: FinishHook) -> None:
        self.profiler = profiler
        self.entry = entry
        self.forward = forward
        self.thread_id = get_ident()
        # The caller of Client.start_entry and everything above it: the platform's loop.
        self.base = base_of(sys._getframe(2))
        self.start = entry._perf_start
        self.runs: List[Run] = []
        # The frames of the last sample, kept alive until the next one (see frames.walk).
        self.held: Tuple[Any, ...] = ()
        self.exits: List[Tuple[float, float]] = []
        # Every real span directly under the entry, measured: inferred siblings follow them.
        self.measured: List[Tuple[float, float]] = []
        # (frame id, code) of a module's top level -> the file and line that imported it.
        self.imports: Dict[Tuple[int, Any], Tuple[str, int]] = {}
        self.truncated = False
        # Another traced request ran on the same thread meanwhile (asyncio): samples cannot
        # tell the two apart, so neither gets inferred spans (both still feed the profile).
        self.shared = False
        self._ended = [True]

    def on_finish(self, span: Span) -> None:
        """The finish hook of the entry span and of every span started under it."""
        if span is self.entry:
            try:
                self._ended.pop()
            except IndexError:
                return
            self.forward(span)
            try:
                self.profiler.end(self)
            except Exception as exc:  # never cost the invocation its spans
                log.logger().debug("AutoProfile: inferring spans failed: %r", exc)
            return
        if span.duration_ms is not None:
            begin = span._perf_start
            if span.kind == EXIT:
                self.exits.append((begin, begin + span.duration_ms / 1000.0))
            if span.parent_id == self.entry.span_id:
                self.measured.append((begin, begin + span.duration_ms / 1000.0))
        self.forward(span)


class Profiler:
    """Per process: the sampler thread, the open sessions, the process call tree."""

    def __init__(self, config: Config, endpoint: Optional[Endpoint] = None) -> None:
        # Trace profiles are built only where they can go: a loopback acceptor.
        self.exporting = endpoint is not None and endpoint.scheme == "http"
        self.interval_s = config.auto_profile_interval_ms / 1000.0
        self.min_ms = float(config.auto_profile_min_ms)
        self.min_share = config.auto_profile_min_percent / 100.0
        self.continuous = False
        self.codes = Codes()
        self.process_tree = CallTree()
        self.pending: Deque[Dict[str, Any]] = deque(maxlen=MAX_PENDING_PROFILES)
        self.samples_taken = 0
        self._sessions: Dict[int, List[Session]] = {}
        self._lock = allocate_lock()
        self._wake = allocate_lock()
        self._wake.acquire()
        self._idle = False
        self._running = False
        self._stopped = False
        self._thread_id = 0
        self._last_tick = perf_counter()
        self._last_sent = 0.0
        self._process_changed = False
        self._send_lock = allocate_lock()
        self._transport: Any = None
        _profilers.append(self)

    # -- sessions ---------------------------------------------------------------------------

    def begin(self, entry: Span) -> Optional[Session]:
        """Sample the calling (invocation's) thread until ``entry`` finishes."""
        if not entry.recording or self._stopped:
            return None
        session = Session(self, entry, entry._on_finish or _discard)
        # Every span started under the entry inherits its hook: exits are seen as they end.
        entry._on_finish = session.on_finish
        with self._lock:
            sessions = self._sessions.setdefault(session.thread_id, [])
            if sessions:
                session.shared = True
                for other in sessions:
                    other.shared = True
            sessions.append(session)
            self._wake_up()
        return session

    def end(self, session: Session) -> None:
        with self._lock:
            sessions = self._sessions.get(session.thread_id)
            if sessions is not None and session in sessions:
                sessions.remove(session)
                if not sessions:
                    del self._sessions[session.thread_id]
            runs, exits = session.runs, session.exits
            session.runs, session.exits, session.held = [], [], ()
            measured, session.measured = session.measured, []
        entry = session.entry
        end = session.start + (entry.duration_ms or 0.0) / 1000.0
        if session.truncated:
            log.logger().debug(
                "AutoProfile: %s ran long; spans inferred from its first %d stacks only",
                entry.name,
                MAX_RUNS,
            )
        # Past the last kept stack nothing is known: calls end there, not at the entry's end.
        found = calls(runs, session.start, runs[-1].last if session.truncated else end)
        if not session.shared:
            self._emit(session, found, exits, end, measured)
        if self.exporting:
            self._keep_trace_profile(entry, runs)

    def _emit(
        self,
        session: Session,
        found: List[Call],
        exits: List[Tuple[float, float]],
        end: float,
        measured: List[Tuple[float, float]],
    ) -> None:
        entry = session.entry
        duration_ms = (end - session.start) * 1000.0
        min_s = max(self.min_ms, self.min_share * duration_ms) / 1000.0
        span_ids: Dict[int, str] = {}
        kept = significant(found, min_s, exits, self.interval_s)
        for (call, parent), (start, finish) in zip(kept, after_measured_siblings(kept, measured)):
            info = self.codes.info(call.code)
            file, line = info.file, info.line
            importer = session.imports.get((call.frame_id, call.code))
            if importer is not None:  # an import: where the user's code imported it
                file, line = importer
            tags = {
                "inferred": True,
                "function": info.name,
                "file": file,
                "line": line,
                "samples": call.samples,
                # the duration is within this many milliseconds of the truth
                "uncertainty_ms": round(call.uncertainty * 1000.0, 1),
            }
            data = {"sdk": {"name": info.name, "type": "intermediate", "custom": {"tags": tags}}}
            # Parents come before their children, so a parent's id is always known here.
            parent_id = entry.span_id if parent is None else span_ids[id(parent)]
            span = Span(entry.trace, new_id(), parent_id, "sdk", INTERMEDIATE, data, None, ())
            span_ids[id(call)] = span.span_id
            span.start_ms = entry.start_ms + (start - session.start) * 1000.0
            span.duration_ms = (finish - start) * 1000.0
            session.forward(span)

    def _keep_trace_profile(self, entry: Span, runs: List[Run]) -> None:
        if not runs:
            return
        tree = CallTree()
        tree.started_s = entry.start_ms / 1000.0
        for run in runs:
            tree.add([code for _, code in run.stack], run.seconds * 1000.0, run.count)
        profile = tree.to_profile(self.codes)
        self.pending.append(
            {
                "scope": "trace",
                "traceId": entry.trace_id,
                "spanId": entry.span_id,
                "profile": profile,
            }
        )

    # -- the sampler thread -------------------------------------------------------------------

    def run_continuously(self) -> None:
        """Sample every thread all the time, for the process profile (Fargate, servers)."""
        with self._lock:
            self.continuous = True
            self._wake_up()

    def _wake_up(self) -> None:
        """With ``_lock`` held: start the thread, or unpark it."""
        if not self._running:
            self._running = True
            self._idle = False
            self._last_tick = perf_counter()
            start_new_thread(self._run, ())
        elif self._idle:
            self._idle = False
            self._last_tick = perf_counter()
            self._wake.release()

    def _run(self) -> None:
        self._thread_id = get_ident()
        interval = self.interval_s
        while True:
            with self._lock:
                if self._stopped:
                    self._running = False
                    return
                park = not self._sessions and not self.continuous
                if park:
                    self._idle = True
            if park:
                self._wake.acquire()
                continue
            sleep(interval)
            try:
                self._tick()
            except Exception as exc:  # the sampler must survive anything
                log.logger().debug("AutoProfile: sample failed: %r", exc)

    def _tick(self) -> None:
        now = perf_counter()
        frames = sys._current_frames()
        with self._lock:
            since = self._last_tick
            self._last_tick = now
            sampled = set()
            for thread_id, sessions in list(self._sessions.items()):
                frame = frames.get(thread_id)
                if frame is None or now - sessions[0].start > MAX_SESSION_S:
                    sessions[:] = [s for s in sessions if now - s.start <= MAX_SESSION_S]
                    if frame is None or not sessions:
                        if not sessions:
                            del self._sessions[thread_id]
                        continue
                sampled.add(thread_id)
                for session in sessions:
                    self._sample(session, frame, now, now - max(since, session.start))
            if self.continuous:
                own = self._thread_id
                for thread_id, frame in frames.items():
                    if thread_id == own or thread_id in sampled:
                        continue
                    stack, _, _ = walk(frame, None, self.codes)
                    if stack and len(stack) == _depth(frame):  # no frame of ours: not our thread
                        self.process_tree.add([code for _, code in stack], (now - since) * 1000.0)
                        self._process_changed = True
            self.samples_taken += 1
        del frames

    def _sample(self, session: Session, frame: Any, now: float, seconds: float) -> None:
        stack, skip, held = walk(frame, session.base, self.codes)
        session.held = held  # only now are the previous sample's frames let go
        imports = session.imports
        for held_frame in held:
            code = held_frame.f_code
            if code.co_name == MODULE_CODE and len(imports) < MAX_IMPORTS:
                key = (id(held_frame), code)
                if key not in imports:
                    importer = importer_of(held_frame, self.codes)
                    if importer is not None:
                        imports[key] = importer
        runs = session.runs
        last = runs[-1] if runs else None
        if last is not None and last.stack == stack:
            last.last = now
            last.count += 1
            last.seconds += seconds
        elif len(runs) < MAX_RUNS:
            runs.append(Run(now, stack, skip, seconds))
        else:
            session.truncated = True
        if stack:
            self.process_tree.add([code for _, code in stack], seconds * 1000.0)
            self._process_changed = True

    def stop(self) -> None:
        """Stop sampling for good (the client is being replaced)."""
        with self._lock:
            self._stopped = True
            self._sessions.clear()
            if self._idle:
                self._idle = False
                self._wake.release()
        if self in _profilers:
            _profilers.remove(self)
        self._close_transport()

    # -- profiles -----------------------------------------------------------------------------

    def process_profile(self) -> Dict[str, Any]:
        with self._lock:
            return self.process_tree.to_profile(self.codes)

    def after_flush(self, client: Client) -> None:
        """Send waiting profiles to a loopback acceptor (see ``exports_to``); never raises."""
        if not exports_to(client):
            return
        if monotonic() - self._last_sent < SEND_INTERVAL_S:
            return
        self.send(client)

    def send(self, client: Client) -> bool:
        """POST the waiting trace profiles and the process profile to the local acceptor."""
        if not exports_to(client) or not self._send_lock.acquire(False):
            return False
        try:
            self._last_sent = monotonic()
            batch = []
            while self.pending:  # popleft, not clear(): a session may append meanwhile
                batch.append(self.pending.popleft())
            if not batch and not self._process_changed:
                return True
            self._process_changed = False
            process = {"scope": "process", "profile": self.process_profile()}
            body = _encode({"profiles": [*batch, process]})
            from ..transport.http import TransportError

            if self._transport is None:
                self._transport = client._make_transport()
            try:
                status = self._transport.post(
                    PROFILES_RESOURCE, body, {}, monotonic() + client.config.timeout_s
                )
            except TransportError as exc:
                status = 0
                log.logger().debug("AutoProfile: profiles not delivered: %s", exc)
            if not 200 <= status < 300:
                for item in reversed(batch):
                    self.pending.appendleft(item)
                return False
            return True
        except Exception as exc:
            log.logger().debug("AutoProfile: sending profiles failed: %r", exc)
            return False
        finally:
            self._send_lock.release()

    def _close_transport(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    # -- fork --------------------------------------------------------------------------------

    def reset_after_fork(self) -> None:
        """In a forked child: no thread runs here, no lock may be held, no session is ours."""
        self._lock = allocate_lock()
        self._send_lock = allocate_lock()
        self._wake = allocate_lock()
        self._wake.acquire()
        self._sessions = {}
        self._idle = False
        self._running = False
        # Closing our copy of the socket leaves the parent's connection open (as the reporter).
        self._close_transport()
        self.process_tree = CallTree()
        self.pending.clear()
        # The thread starts again with the next session, or the Fargate reporter's next tick.


def exports_to(client: Client) -> bool:
    """Profiles go only to our own acceptor on loopback: the Instana serverless acceptor
    documents no resource for them (docs/PROFILING.md)."""
    endpoint = client.endpoint
    return endpoint is not None and endpoint.scheme == "http"


def _depth(frame: Any) -> int:
    depth = 0
    while frame is not None and depth < 256:
        depth += 1
        frame = frame.f_back
    return depth


def _discard(span: Span) -> None:
    pass


_encoder: Optional[Callable[[Any], str]] = None


def _encode(value: Any) -> bytes:
    global _encoder
    if _encoder is None:
        import json

        _encoder = json.JSONEncoder(separators=(",", ":"), default=str).encode
    return _encoder(value).encode()


_profilers: List[Profiler] = []


def _after_fork_in_child() -> None:
    for profiler in _profilers:
        profiler.reset_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
