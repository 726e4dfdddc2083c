"""One layer per Lambda runtime: each zip's bytecode serves the Python that built it, the file
name says which, and the SAM template declares only that runtime for it.

The layer is built by every CPython from 3.9 to 3.14 found on this machine (``PATH``, then
pyenv's versions); the ones missing are skipped, except the one the template declares.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from demo.lambda_runtime import ROOT
from tests.lambda_fixtures import assert_layer_handler_runs

RUNTIMES = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def find_python(version: str) -> Optional[str]:
    """An interpreter for ``version`` (``"3.12"``), or None."""
    if "{}.{}".format(*sys.version_info[:2]) == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}") or ""]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(
        glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python3"))
    )
    for candidate in candidates:
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('{}.{}'.format(*sys.version_info[:2]))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def build_with(python: str, out_dir: Path) -> Path:
    """Runs the build script as `make layer` does, into ``out_dir``; the zip it wrote."""
    result = subprocess.run(
        [python, str(ROOT / "lambda_layer" / "build.py"), "--output", str(out_dir / "x.zip")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # The name the script picks by default, from the line it prints.
    default = subprocess.run(
        [
            python,
            "-B",
            "-c",
            "import sys; sys.path.insert(0, 'lambda_layer'); import build;"
            "print(build.DEFAULT_OUTPUT.name)",
        ],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert "--compatible-runtimes python" in result.stdout
    named = out_dir / default
    (out_dir / "x.zip").rename(named)
    return named


def bytecode_tags(layer: Path) -> Dict[str, List[str]]:
    """cache tag -> modules compiled for it; also checks every source has bytecode."""
    with zipfile.ZipFile(layer) as zf:
        names = zf.namelist()
    tags: Dict[str, List[str]] = {}
    for name in names:
        if name.endswith(".pyc"):
            tags.setdefault(name.rsplit(".", 2)[-2], []).append(name)
    sources = [n for n in names if n.endswith(".py")]
    for tag, compiled in tags.items():
        assert len(compiled) == len(sources), tag
    return tags


@pytest.mark.parametrize("version", RUNTIMES)
def test_each_runtime_gets_its_own_layer(version: str, tmp_path: Path) -> None:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine")
    layer = build_with(python, tmp_path)
    assert layer.name == f"instana-serverless-layer-python{version}.zip"
    assert list(bytecode_tags(layer)) == [f"cpython-{version.replace('.', '')}"]
    # The layer works on that runtime from its own bytecode: extracted as Lambda does into
    # /opt, with a source that would fail if it were compiled instead.
    with zipfile.ZipFile(layer) as zf:
        zf.extractall(tmp_path / "opt")
    (tmp_path / "opt" / "python" / "instana_serverless" / "ids.py").write_text(
        "raise ImportError\n"
    )
    assert_layer_handler_runs(python, tmp_path / "opt" / "python", tmp_path)


def _template() -> Dict[str, Any]:
    from cfnlint.decode import decode  # the template's YAML with its CloudFormation tags

    template, matches = decode(str(ROOT / "template.yaml"))
    assert not matches and template is not None
    return dict(template)


def test_the_templates_layer_declares_only_the_runtime_its_bytecode_serves(
    tmp_path: Path,
) -> None:
    template = _template()
    layer = template["Resources"]["InstanaLayer"]["Properties"]
    runtimes = layer["CompatibleRuntimes"]
    assert runtimes == [template["Globals"]["Function"]["Runtime"]]
    [runtime] = runtimes
    version = runtime[len("python") :]
    python = find_python(version)
    if python is None:
        pytest.fail(f"{runtime}, the template's runtime, is needed to check its layer")
    built = build_with(python, tmp_path)
    assert layer["ContentUri"] == f"dist/{built.name}"
    # Every runtime the layer declares has its bytecode inside.
    tags = bytecode_tags(built)
    assert {f"cpython-{r[len('python') :].replace('.', '')}" for r in runtimes} == set(tags)


IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
import instana_serverless
failed = []
for info in pkgutil.walk_packages(instana_serverless.__path__, "instana_serverless."):
    if info.name == "instana_serverless.lambda_layer":  # loads LAMBDA_HANDLER: tested above
        continue
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as exc:  # a platform library not installed for this Python
        if (exc.name or "").startswith("instana_serverless"):
            failed.append(f"{info.name}: {exc!r}")
    except Exception as exc:
        failed.append(f"{info.name}: {exc!r}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


@pytest.mark.parametrize("version", RUNTIMES)
def test_every_module_imports_on_every_supported_python(version: str) -> None:
    """No syntax or runtime-evaluated annotation newer than the oldest supported Python."""
    python = find_python(version)
    if python is None:
        pytest.skip(f"no python{version} on this machine")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTANA_")}
    result = subprocess.run(
        [
            python,
            "-I",
            "-B",
            "-c",
            f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + IMPORT_EVERY_MODULE,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(ROOT),
    )
    assert result.returncode == 0, f"python{version}: {result.stdout}{result.stderr}"
