"""Call trees of stack samples and their AutoProfile wire form.

The wire form is the one the Instana collectors' AutoProfile sends (the Python sensor's and
the Node.js collector's ``Profile.to_dict``/``toJson``): ``pid``, ``id``, ``runtime``,
``category``, ``type``, ``unit``, ``roots``, ``duration``, ``timespan``, ``timestamp``, each
root a call site ``{method_name, file_name, file_line, measurement, num_samples, children}``.
Wall-clock samples are what the Python sensor's wall-clock sampler reports: category
``time``, type ``blocking-calls``, unit ``millisecond``.
"""

from __future__ import annotations

import os
from time import time

from .frames import Codes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any, Dict, Iterable, List

CATEGORY = "time"
TYPE = "blocking-calls"
UNIT = "millisecond"
RUNTIME = "python"

# A process tree grows with every distinct call path; beyond this many nodes new paths are
# counted in their deepest known ancestor instead (the time is kept, the detail is not).
MAX_NODES = 5_000


class Node:
    __slots__ = ("children", "ms", "samples")

    def __init__(self) -> None:
        self.children: Dict[CodeType, Node] = {}
        self.ms = 0.0
        self.samples = 0


class CallTree:
    """Sampled time per call path, bounded in nodes."""

    __slots__ = ("max_nodes", "nodes", "root", "sampled_ms", "started_s")

    def __init__(self, max_nodes: int = MAX_NODES) -> None:
        self.root = Node()
        self.nodes = 0
        self.max_nodes = max_nodes
        self.sampled_ms = 0.0
        self.started_s = time()

    def add(self, codes: Iterable[CodeType], ms: float, count: int = 1) -> None:
        node = self.root
        node.ms += ms
        node.samples += count
        self.sampled_ms += ms
        for code in codes:
            child = node.children.get(code)
            if child is None:
                if self.nodes >= self.max_nodes:
                    return
                child = node.children[code] = Node()
                self.nodes += 1
            child.ms += ms
            child.samples += count
            node = child

    def roots(self, codes: Codes) -> List[Dict[str, Any]]:
        return [_call_site(code, node, codes) for code, node in self.root.children.items()]

    def to_profile(self, codes: Codes) -> Dict[str, Any]:
        """The AutoProfile document for everything sampled into this tree."""
        now = time()
        return {
            "pid": str(os.getpid()),
            "id": _uuid4(),
            "runtime": RUNTIME,
            "category": CATEGORY,
            "type": TYPE,
            "unit": UNIT,
            "roots": self.roots(codes),
            "duration": round(self.sampled_ms),
            "timespan": round((now - self.started_s) * 1000),
            "timestamp": round(now * 1000),
        }


def _call_site(code: CodeType, node: Node, codes: Codes) -> Dict[str, Any]:
    info = codes.info(code)
    return {
        "method_name": info.name,
        "file_name": info.file,
        "file_line": info.line,
        "measurement": round(node.ms, 3),
        "num_samples": node.samples,
        "children": [_call_site(child, grand, codes) for child, grand in node.children.items()],
    }


def _uuid4() -> str:
    # The ``uuid`` module costs more to import than this.
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
