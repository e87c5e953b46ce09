"""``kafka-backup offset-reset plan|execute|script``."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from kafka_backup.cli.errors import handle_errors
from kafka_backup.cli.locate import Located, check_id, locate, storage_options
from kafka_backup.cli.runtime import MetricsOptions, metrics_options, telemetry_session
from kafka_backup.cli.summary import counted
from kafka_backup.engine.catalog.manifests import read_backup_manifest
from kafka_backup.engine.config.backup import KafkaConfig
from kafka_backup.engine.config.names import compile_patterns
from kafka_backup.engine.format.restore_state import RestoreState
from kafka_backup.engine.kafka.admin import Cluster
from kafka_backup.engine.restore.offsets import (
    GroupReset,
    execute_reset,
    load_state,
    plan_reset,
    render_table,
    script_lines,
)
from kafka_backup.telemetry import kafka_logger


@dataclass(frozen=True)
class _Selection:
    """Which backup, restore and groups a subcommand works on (the options every subcommand shares)."""

    config_path: Path | None
    storage_url: str | None
    backup_id: str | None
    restore_id: str | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]

    def resets(self) -> tuple[Located, RestoreState, list[GroupReset]]:
        located = locate(self.config_path, self.storage_url, self.backup_id)
        bid = located.require_backup_id()
        groups = located.raw.get("consumer_groups") or {}
        restore_id = self.restore_id or located.raw.get("restore_id")
        if restore_id is not None:
            check_id(restore_id, "--restore-id" if self.restore_id else f"{located.source}: restore_id")
        include = list(self.include) or groups.get("include") or ["*"]
        exclude = list(self.exclude) or groups.get("exclude") or []
        compile_patterns([*include, *exclude])  # a bad regex is a config error before storage is read
        store = located.store()
        state = load_state(store, bid, restore_id)
        resets = plan_reset(store, read_backup_manifest(store, bid), state, include, exclude)
        return located, state, resets


def _options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The shared options, handed to the command as one ``selection``."""

    @functools.wraps(fn)
    def command(
        *,
        config_path: Path | None,
        storage_url: str | None,
        backup_id: str | None,
        restore_id: str | None,
        include: tuple[str, ...],
        exclude: tuple[str, ...],
        **rest: Any,
    ) -> Any:
        selection = _Selection(config_path, storage_url, backup_id, restore_id, include, exclude)
        return fn(selection=selection, **rest)

    wrapped: Callable[..., Any] = command
    wrapped = click.option("--exclude-group", "exclude", multiple=True, help="Leave these groups alone (glob or re:).")(
        wrapped
    )
    wrapped = click.option(
        "--group", "-g", "include", multiple=True, help="Groups to reset (glob or re:; default all)."
    )(wrapped)
    wrapped = click.option(
        "--restore-id", "-r", help="The restore to translate onto (default: the backup's only one)."
    )(wrapped)
    return storage_options(wrapped)


@click.group("offset-reset")
def offset_reset() -> None:
    """Translate the consumer-group offsets captured at backup time onto a restore's target topics."""


@offset_reset.command("plan")
@_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@handle_errors
def plan_cmd(*, selection: _Selection, as_json: bool) -> None:
    """Show the translated offsets (changes nothing)."""
    _, state, resets = selection.resets()
    if as_json:
        click.echo(json.dumps({"restore_id": state.restore_id, "groups": [r.to_dict() for r in resets]}))
    else:
        click.echo(render_table(resets))


@offset_reset.command("execute")
@_options
@click.option("--bootstrap-servers", help="Target cluster (default: target in --config, else the restore's).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@metrics_options
@handle_errors
def execute_cmd(
    *, selection: _Selection, bootstrap_servers: str | None, as_json: bool, metrics: MetricsOptions
) -> None:
    """Commit the translated offsets on the target (refuses groups with active members)."""
    located, state, resets = selection.resets()
    target = located.target(bootstrap_servers) or KafkaConfig(bootstrap_servers=state.target_bootstrap)
    with telemetry_session(metrics, secrets=[*located.secrets(), *target.secrets()]) as telemetry:
        cluster = Cluster(target, {"logger": kafka_logger("offset-reset")})
        results = execute_reset(cluster, resets, metrics=telemetry.metrics, backup_id=state.backup_id)
    if as_json:
        click.echo(json.dumps({"restore_id": state.restore_id, "groups": [r.to_dict() for r in results]}))
    else:
        click.echo(render_table(resets))
        partitions = counted(sum(r.partitions for r in results), "partition")
        click.echo(f"reset {partitions} of {counted(len(results), 'consumer group')}")


@offset_reset.command("script")
@_options
@click.option("--bootstrap-servers", help="Bootstrap servers to write into the commands (default: the restore's).")
@handle_errors
def script_cmd(*, selection: _Selection, bootstrap_servers: str | None) -> None:
    """Print the equivalent kafka-consumer-groups.sh commands (to review or run by hand)."""
    located, state, resets = selection.resets()
    target = located.target(bootstrap_servers)
    bootstrap = target.bootstrap_servers if target else state.target_bootstrap
    click.echo("#!/bin/sh")
    click.echo(f"# offset reset for restore {state.restore_id} of backup {state.backup_id}; stop the consumers first")
    click.echo("set -e")
    for line in script_lines(resets, bootstrap):
        click.echo(line)
