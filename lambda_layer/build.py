"""Build the Lambda layer zip: ``python/instana_serverless/...``, reproducibly.

    python3.12 lambda_layer/build.py [--output dist/instana-serverless-layer-python3.12.zip]

The zip holds our package only: it has no runtime dependencies, and boto3/botocore come with
the Lambda runtime. Left out are the parts no Lambda function uses: the local acceptor, the
command line, doctor and local runner, the WSGI/ASGI middleware and the Azure, Cloud Run and Fargate
platforms. Entries are sorted with
fixed timestamps and permissions, so the same sources always give the same bytes (and the
same CodeSha256). Pure Python, for x86_64 and arm64 alike.

A layer's ``/opt`` is read-only, so Python cannot cache the bytecode it compiles: without
help every cold start compiles our modules again (~50 ms instead of ~13 ms). The zip therefore
carries bytecode for the interpreter that builds it (``__pycache__/*.cpython-3XX.pyc``,
hash-based and unchecked, so neither the zip's fixed timestamps nor Lambda's extraction can
invalidate it), and so serves that one runtime: one layer per runtime, built by that runtime's
Python (``make layer`` for the Python at hand, ``PYTHON=python3.12 make layer`` for another).
The file name says which (``instana-serverless-layer-python3.12.zip``) and the layer must be
published with that runtime alone as its compatible runtime (the script prints the command).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Iterator, List, Optional

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "instana_serverless"
# The Lambda runtime whose bytecode this interpreter writes, e.g. "python3.12".
RUNTIME = "python{}.{}".format(*sys.version_info[:2])
DEFAULT_OUTPUT = ROOT / "dist" / f"instana-serverless-layer-{RUNTIME}.zip"
# Zip timestamps cannot predate 1980; any fixed value makes builds reproducible.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = frozenset(("__pycache__",))
# Relative to the package: not used by any Lambda function.
EXCLUDED_PARTS = frozenset(
    ("acceptor", "azure", "gcp", "fargate", "local", "middleware.py", "cli.py", "doctor.py")
)
# Sources and the typing marker only: no bytecode, editor backups or stray build output.
INCLUDED_SUFFIXES = (".py",)
INCLUDED_NAMES = frozenset(("py.typed",))
FORBIDDEN_TOP_LEVEL = ("boto3", "botocore", "s3transfer")


def layer_files(package: Path = PACKAGE) -> Iterator[Path]:
    for path in sorted(package.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(package)
        if any(part in EXCLUDED_DIRS for part in relative.parts):
            continue
        if relative.parts[0] in EXCLUDED_PARTS:
            continue
        if not path.name.endswith(INCLUDED_SUFFIXES) and path.name not in INCLUDED_NAMES:
            continue
        yield path


def _entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    if name.split("/")[1] in FORBIDDEN_TOP_LEVEL:
        raise SystemExit(f"refusing to ship {name}: the Lambda runtime provides it")
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100644 & 0xFFFF) << 16
    info.create_system = 3  # unix, so the permissions above are honoured
    zf.writestr(info, data, compresslevel=9)


def _without_docstrings(tree: ast.Module) -> ast.Module:
    """``tree`` with the docstrings of the module, its classes and functions removed.

    They are a third of our bytecode and nothing at run time reads them; the sources beside
    the bytecode keep them for readers, and line numbers (tracebacks) do not move.
    """
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            # A body must not be empty: a docstring-only body becomes ``pass``.
            node.body = body[1:] or [ast.copy_location(ast.Pass(), body[0])]
    return tree


def bytecode(path: Path) -> bytes:
    """``path`` compiled for this interpreter without docstrings, as an unchecked hash-based
    pyc: valid whatever the source's timestamp (the zip's are fixed)."""
    from importlib import _bootstrap_external  # the writer py_compile uses, without a file

    source = path.read_bytes()
    tree = _without_docstrings(ast.parse(source, filename=path.name))
    code = compile(tree, path.name, "exec", dont_inherit=True)
    data = _bootstrap_external._code_to_hash_pyc(  # type: ignore[attr-defined]
        code, importlib.util.source_hash(source), False
    )
    return bytes(data)


def build(output: Path = DEFAULT_OUTPUT, package: Path = PACKAGE) -> int:
    """Write the layer zip to ``output``; returns its size in bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    entries = {}
    for path in layer_files(package):
        name = "python/" + path.relative_to(package.parent).as_posix()
        entries[name] = path.read_bytes()
        if path.suffix == ".py":
            cached = Path(importlib.util.cache_from_source(str(path)))
            relative = cached.relative_to(package.parent).as_posix()
            entries["python/" + relative] = bytecode(path)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name in sorted(entries):
            _entry(zf, name, entries[name])
    tmp.replace(output)
    return output.stat().st_size


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write")
    args = parser.parse_args(argv)
    size = build(args.output)
    print(f"{args.output}: {size} bytes ({size / 1024:.1f} KiB)")
    print(f"bytecode for {sys.implementation.cache_tag}: a layer for the {RUNTIME} runtime only")
    print(
        "publish: aws lambda publish-layer-version --layer-name instana-serverless-"
        f"{RUNTIME.replace('.', '')} --zip-file fileb://{args.output} "
        f"--compatible-runtimes {RUNTIME} --compatible-architectures x86_64 arm64"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
