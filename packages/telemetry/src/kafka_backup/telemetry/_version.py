"""The version of kafka-backup-telemetry (instrumentation scope version, default service.version)."""

from __future__ import annotations

__all__ = ["PACKAGE_VERSION"]

PACKAGE_VERSION = "0.1.0"
"""As in packages/telemetry/pyproject.toml, spelled here because reading it with ``importlib.metadata`` costs every
command 0.05-0.1 s of start-up (email, zipfile, csv); a test checks the two agree."""
