"""Entry point of the ``kafka-backup`` command.

Subcommands are imported when they run (or when help lists them): ``backup`` does not load the restore, drill and
catalog code, which would add about 0.1 s to every start.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from kafka_backup.cli.error_line import emit_usage_error
from kafka_backup.telemetry import configure_logging

COMMANDS = {
    "backup": "kafka_backup.cli.backup_cmd:backup",
    "service": "kafka_backup.cli.backup_cmd:service",
    "restore": "kafka_backup.cli.restore_cmd:restore",
    "offset-reset": "kafka_backup.cli.offset_reset_cmd:offset_reset",
    "validate": "kafka_backup.cli.validate_cmd:validate_cmd",
    "list": "kafka_backup.cli.catalog_cmd:list_cmd",
    "describe": "kafka_backup.cli.catalog_cmd:describe_cmd",
    "prune": "kafka_backup.cli.catalog_cmd:prune_cmd",
    "drill": "kafka_backup.cli.drill_cmd:drill",
}
"""Command name -> ``module:attribute`` of its click command."""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern)."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = lazy

    def main(  # type: ignore[override]  # click's overloads; this keeps its signature
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """click's main, with its usage errors (unknown option, missing argument, bad value) in the one-line
        ``error[USAGE_ERROR]: ... (...)`` form of every other error, exit 2."""
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # a bare `kafka-backup` (or group) shows its help
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            words = [a for a in argv if not a.startswith("-")][:2]
            command = " ".join(["kafka-backup", *words[: 2 if words[:1] == ["offset-reset"] else 1]])
            emit_usage_error(exc, argv, command if words and words[0] in self.lazy else "kafka-backup")
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)  # an int is click's Exit code (--help, --version)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise TypeError(f"{self.lazy[cmd_name]} is not the click command {cmd_name!r}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kafka-backup", prog_name="kafka-backup")
def cli() -> None:
    """Back up Apache Kafka topics to object storage and restore them."""
    # logs go to stderr from the first line on, so stdout holds only results (--json stays parseable);
    # commands with a telemetry session re-configure with OTLP export when it is set up
    configure_logging()


def main() -> None:
    cli()
