"""Regenerates the README's tables from the tables in the code, or checks them: the settings
(``instana_serverless/settings.py``) and the exit spans (``instrumentation/registry.py``).

``python docs/tables.py --write`` rewrites every generated section of README.md and
docs/CONTRACT.md;
``--check`` (what ``tests/test_settings.py`` does) exits 1 when one is stale. A generated
section sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, Tuple

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


def _registry_table(frameworks: bool) -> str:
    """The README rows of the registry: the exit-span rows, or the ``frameworks`` category's
    (web frameworks and GraphQL, which work on the entry span instead of adding exits)."""
    from instana_serverless.instrumentation.registry import ENTRIES, FRAMEWORKS

    first = "framework" if frameworks else "library"
    context_head = "" if frameworks else " context carried onward |"
    lines = [
        f"| {first} | versions | span | data |{context_head} disable with |",
        "|---|---|---|---|---|" + ("" if frameworks else "---|"),
    ]
    for entry in ENTRIES:
        if (entry.category == FRAMEWORKS) != frameworks:
            continue
        disable = ", ".join(f"`{word}`" for word in (entry.name, *entry.aliases, entry.category))
        context = "" if frameworks else f" {entry.context} |"
        lines.append(
            f"| {entry.label} | `{entry.distribution}` {entry.versions} | {entry.span} | "
            f"{entry.data} |{context} {disable} |"
        )
    return "\n".join(lines)


def exit_span_table() -> str:
    return _registry_table(frameworks=False)


def framework_table() -> str:
    return _registry_table(frameworks=True)


GENERATORS: Dict[str, Callable[[], str]] = {
    "settings": settings_table,
    "exit-spans": exit_span_table,
    "web-frameworks": framework_table,
}


# Which generated sections each document has.
DOCUMENTS: Dict[Path, Tuple[str, ...]] = {
    README: ("settings", "exit-spans", "web-frameworks"),
    ROOT / "docs" / "CONTRACT.md": ("settings",),
}


def render(
    text: str, sections: Tuple[str, ...] = ("settings", "exit-spans", "web-frameworks")
) -> str:
    """``text`` with its generated ``sections`` replaced by what their generators make now."""
    for name in sections:
        begin, end = f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise SystemExit(f"no {begin} section")
        _, found, tail = rest.partition(end)
        if not found:
            raise SystemExit(f"no {end} after {begin}")
        text = f"{head}{begin}\n{GENERATORS[name]()}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    if argv[1:] not in (["--write"], ["--check"]):
        print("usage: python docs/tables.py --write|--check", file=sys.stderr)
        return 2
    stale = []
    for path, sections in DOCUMENTS.items():
        current = path.read_text(encoding="utf-8")
        wanted = render(current, sections)
        if wanted == current:
            continue
        if argv[1:] == ["--write"]:
            path.write_text(wanted, encoding="utf-8")
        else:
            stale.append(path.relative_to(ROOT).as_posix())
    if stale:
        print(f"stale: {', '.join(stale)}: run python docs/tables.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
