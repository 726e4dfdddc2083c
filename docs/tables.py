"""Regenerates the README's tables from the tables in the code, or checks them: the settings
(``instana_serverless/settings.py``) and the exit spans (``instrumentation/registry.py``).

``python docs/tables.py --write`` rewrites every generated section of README.md;
``--check`` (what ``tests/test_settings.py`` does) exits 1 when one is stale. A generated
section sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT))


def settings_table() -> str:
    from instana_serverless.settings import OTHER_VARIABLES, SETTINGS

    lines = ["| setting | default | meaning |", "|---|---|---|"]
    for row in (*SETTINGS, *OTHER_VARIABLES):
        name = f"`{row.variable}`" if row.variable else f"`Options({row.options[0]}=…)`"
        wins = "; the environment wins over `Options`" if row.env_wins else ""
        lines.append(f"| {name} | {row.default} | {row.meaning}{wins} |")
    return "\n".join(lines)


def exit_span_table() -> str:
    from instana_serverless.instrumentation.registry import ENTRIES

    lines = [
        "| library | versions | span | data | context carried onward | disable with |",
        "|---|---|---|---|---|---|",
    ]
    for entry in ENTRIES:
        disable = ", ".join(f"`{word}`" for word in (entry.name, *entry.aliases, entry.category))
        lines.append(
            f"| {entry.label} | `{entry.distribution}` {entry.versions} | {entry.span} | "
            f"{entry.data} | {entry.context} | {disable} |"
        )
    return "\n".join(lines)


GENERATORS: Dict[str, Callable[[], str]] = {
    "settings": settings_table,
    "exit-spans": exit_span_table,
}


def render(text: str) -> str:
    """``text`` with every generated section replaced by what its generator makes now."""
    for name, generate in GENERATORS.items():
        begin, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise SystemExit(f"README.md has no {begin} section")
        _, found, tail = rest.partition(end)
        if not found:
            raise SystemExit(f"README.md has no {end} after {begin}")
        text = f"{head}{begin}\n{generate()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = render(current)
    if argv[1:] == ["--write"]:
        README.write_text(wanted, encoding="utf-8")
        return 0
    if argv[1:] == ["--check"]:
        if wanted != current:
            print("README.md is stale: run python docs/tables.py --write", file=sys.stderr)
            return 1
        return 0
    print("usage: python docs/tables.py --write|--check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
