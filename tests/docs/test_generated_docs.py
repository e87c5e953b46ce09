"""Docs generated from code match the code: regenerate them (see each file's header) when this fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_backup.cli import help_doc
from kafka_backup.engine.config import doc as config_doc

DOCS = Path(__file__).resolve().parents[2] / "docs"


class TestGeneratedDocs:
    @pytest.mark.parametrize(
        ("name", "render", "command"),
        [
            ("config.md", config_doc.render, "python -m kafka_backup.engine.config.doc > docs/config.md"),
            ("cli.md", help_doc.render, "python -m kafka_backup.cli.help_doc > docs/cli.md"),
        ],
    )
    def test_doc_matches_code(self, name: str, render: object, command: str) -> None:
        """The committed reference equals what the generator produces from the code now."""
        committed = (DOCS / name).read_text()
        assert committed == render(), f"docs/{name} is stale: run `uv run {command}`"  # type: ignore[operator]

    def test_config_reference_lists_every_key(self) -> None:
        """Every field of every documented model has a row (no key the code reads goes undocumented)."""
        text = (DOCS / "config.md").read_text()
        for _title, model in config_doc.documented_models():
            for key, *_ in config_doc._rows(model, ""):
                assert f"| `{key}` |" in text
