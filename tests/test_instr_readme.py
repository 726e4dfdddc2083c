"""README.md's exit-span table is the registry's, generated (fails when they disagree)."""

from __future__ import annotations

from pathlib import Path

from instana_serverless.instrumentation import readme, registry

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_exit_table_matches_the_registry() -> None:
    text = README.read_text(encoding="utf-8")
    assert readme.with_table(text) == text, (
        "README.md's exit-span table is stale: run "
        "`.venv/bin/python -m instana_serverless.instrumentation.readme README.md`"
    )


def test_every_entry_has_a_row_with_its_disable_words() -> None:
    table = readme.exit_table().splitlines()[2:]
    assert len(table) == len(registry.ENTRIES)
    for entry, row in zip(registry.ENTRIES, table):
        assert entry.label in row and entry.versions in row and entry.span in row
        assert all(f"`{word}`" in row for word in entry.keys)


def test_a_changed_row_is_noticed() -> None:
    text = README.read_text(encoding="utf-8")
    edited = text.replace("`httpx` >= 0.23", "`httpx` >= 0.1")
    assert edited != text and readme.with_table(edited) != edited
