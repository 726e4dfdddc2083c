"""The README's exit-span table, generated from the registry (never written by hand).

    python -m instana_serverless.instrumentation.readme README.md   # rewrite the table in place

``tests/test_instr_readme.py`` fails when README.md and the registry disagree.
"""

from __future__ import annotations

import sys

from .registry import ENTRIES

START = (
    "<!-- exit-spans: generated from instana_serverless/instrumentation/registry.py by "
    "`python -m instana_serverless.instrumentation.readme README.md`; edit the registry -->"
)
END = "<!-- /exit-spans -->"


def exit_table() -> str:
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


def with_table(text: str) -> str:
    """``text`` with the part between the markers replaced by the current table."""
    head, found, rest = text.partition(START)
    if not found:
        raise ValueError("no exit-span table marker in the README")
    _old, found, tail = rest.partition(END)
    if not found:
        raise ValueError("exit-span table end marker missing")
    return f"{head}{START}\n{exit_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = argv[0] if argv else "README.md"
    with open(path, encoding="utf-8") as file:
        text = file.read()
    with open(path, "w", encoding="utf-8") as file:
        file.write(with_table(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
