"""Tests that every environment variable the package reads is documented."""

from __future__ import annotations

from pathlib import Path

from kafka_backup.telemetry import env

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


class TestEnv:
    def test_every_variable_is_documented(self) -> None:
        """docs/telemetry.md names every variable declared in env.py."""
        text = DOC.read_text(encoding="utf-8")
        variables = [getattr(env, name) for name in env.__all__ if not name.endswith("_PASSTHROUGH")]
        assert [v for v in variables if f"`{v}`" not in text] == []

    def test_passthrough_lists_are_declared_names(self) -> None:
        """The passthrough lists only name variables declared in env.py."""
        declared = {getattr(env, name) for name in env.__all__ if not name.endswith("_PASSTHROUGH")}
        assert set(env.OTLP_PASSTHROUGH) <= declared
        assert set(env.LOG_PASSTHROUGH) <= declared
