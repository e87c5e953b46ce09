"""What every one-shot command shares: telemetry set-up and tear-down, and the metrics flags.

Flags (on every one-shot command):
- ``--expose-metrics [HOST:]PORT``: serve /metrics, /healthz, /readyz during the run, and for ``--metrics-linger``
  seconds after it so a final scrape can happen;
- ``--metrics-output FILE``: write the final metrics to FILE (``.prom`` for node_exporter's textfile collector,
  ``.json`` for scripts), atomically;
- ``--log-format text|json`` and ``--log-level`` override ``KAFKA_BACKUP_LOG_FORMAT`` / ``KAFKA_BACKUP_LOG_LEVEL``.

The telemetry is shut down before the process exits, so an OTLP collector receives the run's last metrics, spans
and logs (``Telemetry.shutdown``: final collection and export; never ``MeterProvider.force_flush``).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from kafka_backup.cli.error_line import FlagError
from kafka_backup.telemetry import QuietTelemetry, kafka_logger, quiet_setup, register_secret

if TYPE_CHECKING:
    from kafka_backup.telemetry import MetricsServer, ReadinessCheck, Telemetry

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class MetricsOptions:
    expose: tuple[str, int] | None = None
    linger_s: float = 0.0
    output: Path | None = None
    log_format: str | None = None
    log_level: str | None = None


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise FlagError(
            f"{value!r} is not [HOST:]PORT", flag="--expose-metrics", hint="e.g. 9464 or 0.0.0.0:9464"
        ) from None
    if not 0 <= number <= 65535:
        raise FlagError(f"port {number} is out of range", flag="--expose-metrics", hint="use a port in 0-65535")
    return (host or "127.0.0.1", number)


def check_metrics_output(path: Path) -> None:
    """Refuse a metrics file that could not be written, before the run (not after a successful backup).

    Checked: the suffix, that the folder exists and is writable, that the path is not a folder. A write can still
    fail later (disk full), and that remains METRICS_FILE_WRITE_FAILED, exit 1."""
    if path.suffix not in (".prom", ".json"):
        raise FlagError(f"{str(path)!r} must end in .prom or .json", flag="--metrics-output",
                        hint=".prom for node_exporter's textfile collector, .json for scripts")  # fmt: skip
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FlagError(f"folder {str(folder)!r} {what}", flag="--metrics-output",
                        hint="create it, or write the file into an existing folder")  # fmt: skip
    if path.is_dir():
        raise FlagError(f"{str(path)!r} is a folder", flag="--metrics-output", hint="name a file inside it")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK | os.X_OK)
    if not writable:
        raise FlagError(f"{str(path)!r} is not writable", flag="--metrics-output",
                        hint="choose a path this user may write")  # fmt: skip


def metrics_options(fn: Callable[P, R]) -> Callable[..., R]:
    """Adds the metrics and log flags; the command receives them as one ``metrics: MetricsOptions`` argument."""

    @click.option("--expose-metrics", "expose", metavar="[HOST:]PORT", help="Serve /metrics during the run.")
    @click.option("--metrics-linger", "linger", type=float, default=0.0, metavar="SECONDS",
                  help="Keep serving /metrics this long after the run (for a final scrape).")  # fmt: skip
    @click.option("--metrics-output", "output", type=click.Path(path_type=Path), metavar="FILE",
                  help="Write final metrics to FILE (.prom or .json).")  # fmt: skip
    @click.option("--log-format", type=click.Choice(["text", "json"]), help="Log format (default: text).")
    @click.option("--log-level", metavar="SPEC", help="Log level, with per-logger directives: info,kafka=debug.")
    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        expose: str | None,
        linger: float,
        output: Path | None,
        log_format: str | None,
        log_level: str | None,
        **kwargs: Any,
    ) -> R:
        if output is not None:
            check_metrics_output(output)
        options = MetricsOptions(
            expose=parse_listen(expose) if expose else None,
            linger_s=linger,
            output=output,
            log_format=log_format,
            log_level=log_level,
        )
        return fn(*args, metrics=options, **kwargs)  # type: ignore[arg-type]

    return wrapper


@contextmanager
def telemetry_session(
    options: MetricsOptions,
    *,
    secrets: list[str] | None = None,
    checks: Mapping[str, ReadinessCheck] | None = None,
    config_endpoint: tuple[str, int, str] | None = None,
) -> Iterator[Telemetry | QuietTelemetry]:
    """Set up telemetry for one command; on exit write the metrics file, linger, stop serving, shut down.

    A run with no metrics endpoint, no metrics file and no OTLP endpoint gets :mod:`kafka_backup.telemetry.quiet`'s
    no-op telemetry: nothing could read what the SDK would record, and not importing it saves a third of start-up."""
    environ = dict(os.environ)
    if options.log_format:
        environ["KAFKA_BACKUP_LOG_FORMAT"] = options.log_format
    if options.log_level:
        environ["KAFKA_BACKUP_LOG_LEVEL"] = options.log_level
    listen = options.expose or (config_endpoint[:2] if config_endpoint else None)
    quiet = quiet_setup(environ) if listen is None and options.output is None else None
    if quiet is not None:
        for secret in secrets or []:
            register_secret(secret)
        try:
            yield quiet
        finally:
            quiet.shutdown()
        return
    from kafka_backup.telemetry import serve_metrics, setup, write_metrics_file  # noqa: PLC0415 - the SDK's path

    telemetry = setup(environ=environ)
    for secret in secrets or []:
        register_secret(secret)
    server: MetricsServer | None = None
    if listen is not None:
        path = config_endpoint[2] if config_endpoint else None
        server = serve_metrics(
            telemetry.registry, host=listen[0], port=listen[1], path=path, checks=checks, bind_hint=_bind_hint(options)
        )
        click.echo(f"serving metrics at {server.url}{server.path}", err=True)
    try:
        yield telemetry
    finally:
        try:
            if options.output is not None:
                write_metrics_file(telemetry.registry, options.output)
            if server is not None and options.linger_s > 0:
                time.sleep(options.linger_s)
        finally:
            if server is not None:
                server.stop()
            telemetry.shutdown()


def _bind_hint(options: MetricsOptions) -> str:
    """How to pick another port: the flag when it was given, else the config key it overrides."""
    if options.expose is not None:
        return "choose another port with --expose-metrics [HOST:]PORT; 0 picks a free one"
    return "set metrics.port in the config to another port, or pass --expose-metrics [HOST:]PORT; 0 picks a free one"


__all__ = ["MetricsOptions", "kafka_logger", "metrics_options", "parse_listen", "telemetry_session"]
