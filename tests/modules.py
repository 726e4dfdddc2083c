"""Modules for the tests: scripts loaded as modules, and what a fresh interpreter imports."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Sequence


def load_script(name: str, path: Path) -> Any:
    """``path`` is a script, not a package module: load it under ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def modules_loaded_by(
    code: str, names: Sequence[str] = (), prefixes: Sequence[str] = ()
) -> List[str]:
    """Which of ``names``, and of the modules whose names start with one of ``prefixes``, are
    in ``sys.modules`` after ``code`` ran in a fresh interpreter; listing them imports nothing
    but ``sys``."""
    report = (
        "import sys\n"
        f"print(','.join(sorted(m for m in sys.modules if m in {tuple(names)!r}"
        f" or m.startswith({tuple(prefixes)!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, check=True
    )
    return [name for name in out.stdout.splitlines()[-1].split(",") if name]
