"""The official sensor's side of bench/compare.py: its virtualenv and its layer footprint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import List, NamedTuple, Tuple

from bench._support import ROOT

VENV = ROOT / ".bench-venv"
# The release measured; BENCH_INSTANA_VERSION measures another one.
INSTANA_VERSION = os.environ.get("BENCH_INSTANA_VERSION", "3.20.0")
# What the python3.11 Lambda runtime already has in /var/runtime: boto3, botocore and their
# dependencies. A layer need not ship these, so they are not counted.
IN_LAMBDA_RUNTIME = frozenset(
    ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
)
# The venv's own tooling, not something the sensor needs at run time.
TOOLING = frozenset(("pip", "setuptools", "wheel"))


class Side(NamedTuple):
    python: Path
    version: str
    site_packages: Path
    python_version: str


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _probe(python: Path) -> Tuple[str, Path, str]:
    code = (
        "import importlib.metadata as m, json, platform, sysconfig;"
        "print(json.dumps([m.version('instana'), sysconfig.get_paths()['purelib'],"
        " platform.python_version()]))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    version, site, python_version = json.loads(out.stdout.strip().splitlines()[-1])
    return version, Path(site), python_version


def ensure_venv() -> Side:
    """``.bench-venv`` with ``instana==INSTANA_VERSION`` from PyPI, created once and reused."""
    python = _venv_python()
    stamp = VENV / f".instana-{INSTANA_VERSION}"
    if not stamp.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        print(f"installing instana=={INSTANA_VERSION} into {VENV.name}/ (needs PyPI)", flush=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"instana=={INSTANA_VERSION}"],
            capture_output=True,
            text=True,
        )
        if pip.returncode != 0:
            raise SystemExit(f"cannot install the official sensor:\n{pip.stderr.strip()}")
        stamp.touch()
    version, site, python_version = _probe(python)
    return Side(python, version, site, python_version)


def _zip_size(files: List[Tuple[Path, str]]) -> int:
    """Deflate level 9 like lambda_layer/build.py, so both sides are compressed alike."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "layer.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path, name in files:
                zf.write(path, name)
        return target.stat().st_size


class Footprint(NamedTuple):
    zip_bytes: int
    unpacked_bytes: int
    shipped: List[str]
    skipped: List[str]


def official_footprint(site: Path) -> Footprint:
    """What a layer of the official sensor ships: every distribution in the side venv (that is
    instana and its dependency closure) but the runtime's own, files under ``python/``."""
    files: List[Tuple[Path, str]] = []
    shipped: List[str] = []
    skipped: List[str] = []
    for dist in sorted(metadata.distributions(path=[str(site)]), key=lambda d: d.metadata["Name"]):
        name = dist.metadata["Name"]
        canonical = name.lower().replace("_", "-")
        if canonical in TOOLING:
            continue
        label = f"{name} {dist.version}"
        if canonical in IN_LAMBDA_RUNTIME:
            skipped.append(label)
            continue
        shipped.append(label)
        for entry in dist.files or []:
            path = Path(str(dist.locate_file(entry))).resolve()
            # Console scripts live outside site-packages; bytecode is rebuilt or skipped.
            if site.resolve() not in path.parents or "__pycache__" in entry.parts:
                continue
            if path.is_file():
                files.append((path, "python/" + entry.as_posix()))
    return Footprint(_zip_size(files), sum(p.stat().st_size for p, _ in files), shipped, skipped)


def our_footprint() -> Footprint:
    """The zip lambda_layer/build.py writes, built into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "layer.zip"
        subprocess.run(
            [sys.executable, str(ROOT / "lambda_layer" / "build.py"), "--output", str(output)],
            check=True,
            capture_output=True,
        )
        with zipfile.ZipFile(output) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
        return Footprint(output.stat().st_size, unpacked, ["instana-serverless"], [])
