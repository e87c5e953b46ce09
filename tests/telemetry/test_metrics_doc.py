"""Tests of the generated metrics reference."""

from __future__ import annotations

from pathlib import Path

from kafka_backup.telemetry.catalog import CATALOG
from kafka_backup.telemetry.decisions import DECISIONS
from kafka_backup.telemetry.metrics_doc import main, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


class TestRender:
    def test_committed_doc_matches_catalog(self) -> None:
        """docs/metrics.md is exactly what the catalog renders (regenerate it with metrics_doc when this fails)."""
        assert DOC.read_text(encoding="utf-8") == render()

    def test_every_family_has_a_section_and_example(self) -> None:
        """Each family gets a heading, its labels and a PromQL example."""
        text = render()
        for spec in CATALOG:
            assert f"### {spec.name}\n" in text
            assert spec.example in text

    def test_every_decision_is_listed(self) -> None:
        """The decisions section lists every recorded decision."""
        text = render()
        for decision in DECISIONS:
            assert decision.resolution in text


class TestMain:
    def test_check_fails_on_drift(self, tmp_path: Path) -> None:
        """--check exits 1 when the file differs from the rendering."""
        path = tmp_path / "metrics.md"
        path.write_text("stale\n", encoding="utf-8")
        assert main([str(path), "--check"]) == 1

    def test_write_then_check_passes(self, tmp_path: Path) -> None:
        """Writing the file makes --check pass."""
        path = tmp_path / "metrics.md"
        assert main([str(path)]) == 0
        assert main([str(path), "--check"]) == 0
