"""The telemetry package's error tree: every error has a stable code and knows whether retrying can help.

Only the CLI maps these to exit codes and messages (``TelemetryConfigError`` -> exit code 2).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["MetricsFileError", "MetricsServerError", "TelemetryConfigError", "TelemetryError"]


class TelemetryError(Exception):
    """Base of every telemetry error."""

    code: ClassVar[str] = "TELEMETRY_ERROR"
    retryable: ClassVar[bool] = False


class TelemetryConfigError(TelemetryError):
    """Telemetry is misconfigured (bad OTLP endpoint, unknown protocol, bad number) and strict mode is on.

    ``problems`` lists each misconfiguration as an actionable sentence naming the variable to fix.
    """

    code = "TELEMETRY_CONFIG_INVALID"

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class MetricsServerError(TelemetryError):
    """The metrics/health HTTP server could not bind its address (typically: the port is taken).

    ``hint`` says how the caller's user picks another address: the CLI names its flag and config key; the default
    names only what is true for every caller.
    """

    code = "METRICS_SERVER_BIND_FAILED"

    def __init__(self, host: str, port: int, reason: str, *, hint: str | None = None) -> None:
        hint = hint or "choose another port; 0 picks a free one"
        super().__init__(f"cannot serve metrics on {host}:{port}: {reason} ({hint})")
        self.host = host
        self.port = port
        self.reason = reason
        self.hint = hint


class MetricsFileError(TelemetryError):
    """Writing the metrics file (``.prom`` or ``.json``) failed, or its suffix is not one we write."""

    code = "METRICS_FILE_WRITE_FAILED"
