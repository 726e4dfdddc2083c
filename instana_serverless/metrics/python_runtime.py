"""The ``com.instana.plugin.python`` plugin: cheap runtime figures read on every bundle."""

from __future__ import annotations

import gc
import os
import sys

from ..runtime_support import exact_version

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


PLUGIN_NAME = "com.instana.plugin.python"

_RUSAGE_FIELDS = (
    "ru_utime",
    "ru_stime",
    "ru_maxrss",
    "ru_minflt",
    "ru_majflt",
    "ru_inblock",
    "ru_oublock",
    "ru_nvcsw",
    "ru_nivcsw",
)


def _snapshot(process_name: Optional[str]) -> Dict[str, Any]:
    return {
        "name": process_name
        or os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else sys.executable),
        # Exact (``3.14.0rc1``), so the backend can flag an outdated runtime itself.
        "version": exact_version(),
        "f": sys.implementation.name,
        "a": "64bit" if sys.maxsize > 2**32 else "32bit",
        "m": "serverless",
    }


class PythonRuntimePlugin:
    """Reads rusage, GC and thread counts; about 10 µs, so it can go with every bundle."""

    __slots__ = ("_pid", "_snapshot")

    def __init__(self, process_name: Optional[str] = None) -> None:
        self._pid = os.getpid()
        self._snapshot = _snapshot(process_name)

    def __call__(self) -> Dict[str, Any]:
        metrics: Dict[str, Any] = {}
        try:
            import resource  # not on Windows; the plugin then goes without rusage

            usage = resource.getrusage(resource.RUSAGE_SELF)
            for field in _RUSAGE_FIELDS:
                metrics[field] = getattr(usage, field)
        except ImportError:
            pass
        counts = gc.get_count()
        thresholds = gc.get_threshold()
        stats = gc.get_stats()
        metrics["gc"] = {
            **{f"collect{i}": counts[i] for i in range(3)},
            **{f"threshold{i}": thresholds[i] for i in range(3)},
            **{f"collections{i}": stats[i]["collections"] for i in range(min(3, len(stats)))},
            **{f"collected{i}": stats[i]["collected"] for i in range(min(3, len(stats)))},
        }
        # threading is imported by nearly every runtime; if not, there is one thread.
        threading = sys.modules.get("threading")
        if threading is not None:
            threads = threading.enumerate()
            daemon = sum(1 for t in threads if t.daemon)
            metrics["alive_threads"] = len(threads) - daemon
            metrics["daemon_threads"] = daemon
        else:
            metrics["alive_threads"] = 1
            metrics["daemon_threads"] = 0
        return {
            "name": PLUGIN_NAME,
            "entityId": str(self._pid),
            "data": {"pid": self._pid, "snapshot": self._snapshot, "metrics": metrics},
        }
