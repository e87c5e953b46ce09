"""Entry point of the ``kafka-backup`` command.

Subcommands are imported when they run: ``backup`` does not load the restore, drill and catalog code, and
``kafka-backup --help`` lists the commands from their one-line summaries below without importing any of them (the
engine, pydantic, pyarrow, confluent_kafka and OpenTelemetry cost about a second of start-up). A test checks that
the summaries match the commands' own help.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any, NamedTuple

import click

from kafka_backup.cli.error_line import emit_usage_error
from kafka_backup.cli.version import VERSION


class LazyCommand(NamedTuple):
    """Where a command is defined (``module:attribute``) and the first paragraph of its help (a ``NamedTuple``:
    ``dataclasses`` would add 20 ms of imports to every start)."""

    target: str
    summary: str


COMMANDS = {
    "backup": LazyCommand(
        "kafka_backup.cli.backup_cmd:backup", "Back up the topics selected by the config to its storage URL."
    ),
    "service": LazyCommand(
        "kafka_backup.cli.backup_cmd:service",
        "Run a backup job as a long-running service: continuous mode, /metrics /healthz /readyz always on.",
    ),
    "restore": LazyCommand(
        "kafka_backup.cli.restore_cmd:restore",
        "Restore a backup (or a selection of it) to a Kafka cluster; a rerun resumes where a crash stopped.",
    ),
    "offset-reset": LazyCommand(
        "kafka_backup.cli.offset_reset_cmd:offset_reset",
        "Translate the consumer-group offsets captured at backup time onto a restore's target topics.",
    ),
    "validate": LazyCommand(
        "kafka_backup.cli.validate_cmd:validate_cmd",
        "Check a backup: manifests, every segment's size and SHA-256, offset coverage (exit 1 on any defect).",
    ),
    "list": LazyCommand("kafka_backup.cli.catalog_cmd:list_cmd", "List the backups at a storage URL, oldest first."),
    "describe": LazyCommand(
        "kafka_backup.cli.catalog_cmd:describe_cmd",
        "Describe one backup: topics, partitions, offset and time ranges, sizes, consumer groups, status.",
    ),
    "prune": LazyCommand(
        "kafka_backup.cli.catalog_cmd:prune_cmd",
        "Apply retention to whole backups. A dry run unless --yes; never deletes what a kept backup references.",
    ),
    "drill": LazyCommand(
        "kafka_backup.cli.drill_cmd:drill",
        "Prove a backup restores: restore it into scratch topics, compare every record, delete them (exit 1 unless"
        " the score reaches --min-score).",
    ),
}
"""Command name -> where its click command is and its summary for the group's help."""


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern); its help lists
    the commands not imported yet from their summaries."""

    def __init__(self, *args: object, lazy: dict[str, LazyCommand], **kwargs: object) -> None:
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
            target = self.lazy[cmd_name].target
            module, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise TypeError(f"{target} is not the click command {cmd_name!r}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # a stand-in with the summary as its help shortens it exactly as the command itself would
            command = self.commands.get(name) or click.Command(name, help=self.lazy[name].summary)
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


LOGGING_ON_FIRST_RECORD = frozenset({"list", "describe"})
"""Commands whose normal run logs nothing and never through structlog (a test checks they do not import it): their
logging is configured by the first record (``telemetry.deferred_logs``), not at start (structlog and asyncio are a
tenth of their start-up). Their error path configures it before it logs."""
DATA_PLANE_COMMANDS = frozenset({"backup", "service", "restore", "drill"})
"""Commands that move records: in the console script's own process they run with :mod:`kafka_backup.engine.allocator`'s
settings of glibc's malloc and Arrow's memory pool."""


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="kafka-backup")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Back up Apache Kafka topics to object storage and restore them."""
    # logs go to stderr from the first line on, so stdout holds only results (--json stays parseable);
    # commands with a telemetry session re-configure with OTLP export when it is set up
    if ctx.invoked_subcommand in LOGGING_ON_FIRST_RECORD:
        from kafka_backup.telemetry import configure_logging_on_first_record  # noqa: PLC0415

        configure_logging_on_first_record()
    else:
        from kafka_backup.telemetry import configure_logging  # noqa: PLC0415 - not on --help's path

        configure_logging()
    if _PROCESS["own"] and ctx.invoked_subcommand in DATA_PLANE_COMMANDS:
        from kafka_backup.engine import tune_allocators  # noqa: PLC0415 - not on the other commands' path

        tune_allocators()
    if _PROCESS["own"]:
        # click imported the command before this callback: what is on the heap now are modules that live until
        # exit, so no collection should traverse them again
        gc.freeze()


_PROCESS = {"own": False}
"""Whether the running process is the console script's own (:func:`main`), not a caller of :data:`cli` (tests)."""


def main() -> None:
    """The console script. Its heap is frozen (``gc.freeze``) once the command is imported and again when it
    returns: the modules (pydantic's schemas, pyarrow, the OpenTelemetry API) would otherwise be traversed by every
    full collection of a run and by the collections at interpreter exit, 0.1 s of CPU of a short backup. Nothing
    is skipped: refcounting still frees every object, atexit handlers run, and objects made during the run are
    collected as usual; only a reference cycle made before a freeze is not collected (at exit, none is needed)."""
    _PROCESS["own"] = True
    try:
        cli()
    finally:
        gc.freeze()
