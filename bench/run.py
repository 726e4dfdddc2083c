"""Runs every benchmark (``make bench``), or the named ones: ``bench/run.py core lambda_``.

``compare`` runs only when named: it installs the official sensor from PyPI.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMED_ONLY = ("compare",)

names = sys.argv[1:] or sorted(
    p.stem
    for p in HERE.glob("*.py")
    if not p.stem.startswith("_") and p.stem not in ("run", *NAMED_ONLY)
)
for name in names:
    print(f"\n### bench/{name}.py", flush=True)
    runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
