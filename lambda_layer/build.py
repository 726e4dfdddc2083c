"""Build the Lambda layer zip: ``python/instana_serverless/...``, reproducibly.

    python lambda_layer/build.py [--output dist/instana-serverless-layer.zip]

The zip holds our package only: it has no runtime dependencies, and boto3/botocore come with
the Lambda runtime. Entries are sorted with fixed timestamps and permissions, and no
``__pycache__`` is included, so the same sources always give the same bytes (and the same
CodeSha256). Works for python3.9-3.13 on x86_64 and arm64 (pure Python).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path
from typing import Iterator, List, Optional

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "instana_serverless"
DEFAULT_OUTPUT = ROOT / "dist" / "instana-serverless-layer.zip"
# Zip timestamps cannot predate 1980; any fixed value makes builds reproducible.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = frozenset(("__pycache__",))
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
        if not path.name.endswith(INCLUDED_SUFFIXES) and path.name not in INCLUDED_NAMES:
            continue
        yield path


def build(output: Path = DEFAULT_OUTPUT, package: Path = PACKAGE) -> int:
    """Write the layer zip to ``output``; returns its size in bytes."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in layer_files(package):
            name = "python/" + path.relative_to(package.parent).as_posix()
            if name.split("/")[1] in FORBIDDEN_TOP_LEVEL:
                raise SystemExit(f"refusing to ship {name}: the Lambda runtime provides it")
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100644 & 0xFFFF) << 16
            info.create_system = 3  # unix, so the permissions above are honoured
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(output)
    return output.stat().st_size


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write")
    args = parser.parse_args(argv)
    size = build(args.output)
    print(f"{args.output}: {size} bytes ({size / 1024:.1f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
