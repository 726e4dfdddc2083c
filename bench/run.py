"""Runs every benchmark in turn: ``make bench``."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for name in sys.argv[1:] or ["core"]:
    runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
