"""The import table in docs/ARCHITECTURE.md is the law: every import of every module of ours
(lazy ones inside functions included) must be allowed by the module's row."""

from __future__ import annotations

import ast
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "instana_serverless"
TABLE_TITLE = "## Who may import whom"
ANYTHING = "anything of ours"


def _names(cell: str) -> List[str]:
    return re.findall(r"`([^`]+)`", cell)


def read_table() -> Tuple[List[Tuple[List[str], Set[str]]], bool]:
    """[(module patterns, allowed patterns)], with ``core`` expanded."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.partition(TABLE_TITLE)[2].partition("\n## ")[0]
    rows: List[Tuple[List[str], str]] = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        _, left, right, _ = line.split("|", 3) if line.count("|") >= 3 else ("", "", "", "")
        rows.append((_names(left), right))
    groups: Dict[str, Set[str]] = {}
    for modules, right in rows:
        if modules == ["core"]:
            groups["core"] = set(_names(right))
    table = []
    for modules, right in rows:
        if modules == ["core"]:
            continue
        allowed: Set[str] = set()
        for name in _names(right):
            allowed |= groups.get(name, {name})
        if ANYTHING in right:
            allowed.add("*")
        table.append((modules, allowed))
    return table, bool(groups)


def our_modules() -> Iterator[Tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts[1:]) or "instana_serverless"
        yield name, path


def imports_of(name: str, path: Path) -> Set[str]:
    """Our modules that ``path`` imports, named relative to the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    full = "instana_serverless" if name == "instana_serverless" else f"instana_serverless.{name}"
    package = full if path.name == "__init__.py" else full.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(tree):
        targets: List[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if node.module is None:
                targets = [f"{module}.{alias.name}" for alias in node.names]
            else:
                targets = [module]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            if target.startswith("instana_serverless."):
                found.add(target[len("instana_serverless.") :])
    found.discard(name)
    return found


def _matches(module: str, patterns: Set[str] | List[str]) -> bool:
    return any(module == pattern or fnmatchcase(module, pattern) for pattern in patterns)


def test_the_table_is_read() -> None:
    table, has_core = read_table()
    assert has_core and len(table) > 10


def test_every_import_is_allowed_by_the_table() -> None:
    table, _ = read_table()
    problems = []
    for name, path in our_modules():
        row = next((allowed for modules, allowed in table if _matches(name, modules)), None)
        if row is None:
            problems.append(f"{name}: no row in docs/ARCHITECTURE.md")
            continue
        if "*" in row:
            continue
        for target in sorted(imports_of(name, path)):
            if not _matches(target, row):
                problems.append(f"{name} imports {target}")
    assert problems == []


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    table, _ = read_table()
    transport_row = next(allowed for modules, allowed in table if _matches("transport", modules))
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from ..span import Span\n", encoding="utf-8")
    imported = imports_of("transport.probe", source)
    assert imported == {"span"}
    assert not _matches("span", transport_row)
