"""The installed version of kafka-backup-telemetry (instrumentation scope version, default service.version)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["PACKAGE_VERSION"]

try:
    PACKAGE_VERSION = version("kafka-backup-telemetry")
except PackageNotFoundError:  # pragma: no cover - only from a source tree that is not installed
    PACKAGE_VERSION = "0"
