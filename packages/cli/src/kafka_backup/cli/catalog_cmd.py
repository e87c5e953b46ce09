"""``kafka-backup list``, ``describe`` and ``prune``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from kafka_backup.cli.errors import handle_errors
from kafka_backup.cli.locate import locate, storage_options
from kafka_backup.cli.summary import counted, human_bytes
from kafka_backup.engine import (
    describe_backup,
    execute_prune,
    iso_ms,
    list_backups,
    parse_duration,
    plan_prune,
)


@click.command("list")
@storage_options
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@handle_errors
def list_cmd(config_path: Path | None, storage_url: str | None, backup_id: str | None, as_json: bool) -> None:
    """List the backups at a storage URL, oldest first."""
    located = locate(config_path, storage_url, backup_id)
    backups = list_backups(located.store())
    if as_json:
        click.echo(json.dumps([b.to_dict() for b in backups]))
        return
    if not backups:
        click.echo(f"no backups at {located.url}")
        return
    click.echo(f"{'BACKUP':<32} {'STATUS':<12} {'CREATED':<25} {'TOPICS':>6} {'OBJECTS':>8} {'SIZE':>10}")
    for b in backups:
        status = b.status if b.created_at is None else b.verdict
        click.echo(
            f"{b.backup_id:<32} {status:<12} {iso_ms(b.created_at):<25} {b.topics:>6} {b.objects:>8} "
            f"{human_bytes(b.size):>10}"
        )
        for why in b.shortfalls:
            click.echo(f"  incomplete: {why}")


def render_description(d: dict[str, Any]) -> str:
    ratio = f"{d['compression_ratio']:.1f}x" if d["compression_ratio"] else "-"
    state = d["status"] if d["complete"] else f"INCOMPLETE, status {d['status']}"
    stopped = f", stopped cleanly {d['stopped_at']}" if d.get("stopped_at") and d["status"] == "stopped" else ""
    lines = [
        f"Backup {d['backup_id']} ({state})",
        *(
            f"  incomplete: {s['topic']}-{s['partition']}: {s['kind']}: {s['detail']}"
            if s["topic"] is not None
            else f"  incomplete: {s['kind']}: {s['detail']}"
            for s in d["shortfalls"]
        ),
        f"  created {d['created_at']}, completed {d['completed_at'] or '-'}{stopped}, source cluster "
        f"{d['source_cluster_id'] or '-'}",
        f"  {counted(d['records'], 'record')}, {human_bytes(d['size_bytes'])} stored "
        f"({human_bytes(d['uncompressed_bytes'])} uncompressed, {ratio} {d['compression']})",
        f"  time range {iso_ms(d['min_timestamp'])} .. {iso_ms(d['max_timestamp'])}",
        "  topics:",
    ]
    for name, t in d["topics"].items():
        partitions = counted(t["partitions"], "partition") if "partitions" in t else "? partitions"
        lines.append(
            f"    {name}: {partitions}, {counted(t['records'], 'record')}, {counted(t['segments'], 'segment')}, "
            f"{human_bytes(t['size_bytes'])}, {iso_ms(t.get('min_timestamp'))} .. {iso_ms(t.get('max_timestamp'))}"
        )
        for p in t["partition_details"]:
            gaps = f", {counted(len(p['gaps']), 'gap')}" if p["gaps"] else ""
            lines.append(
                f"      {p['partition']:>4}: offsets [{p['start_offset']}, {p['next_offset']}), "
                f"{counted(p['records'], 'record')}, {counted(p['segments'], 'segment')}, "
                f"{human_bytes(p['size_bytes'])}{gaps}"
            )
    groups = d["consumer_groups"]
    lines.append(f"  consumer groups captured: {len(groups)}")
    for group, topics in sorted(groups.items()):
        offsets = ", ".join(f"{t}-{p}@{o}" for t, parts in sorted(topics.items()) for p, o in sorted(parts.items()))
        lines.append(f"    {group}: {offsets}")
    return "\n".join(lines)


@click.command("describe")
@storage_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@handle_errors
def describe_cmd(config_path: Path | None, storage_url: str | None, backup_id: str | None, as_json: bool) -> None:
    """Describe one backup: topics, partitions, offset and time ranges, sizes, consumer groups, status."""
    located = locate(config_path, storage_url, backup_id)
    description = describe_backup(located.store(), located.require_backup_id())
    click.echo(json.dumps(description) if as_json else render_description(description))


@click.command("prune")
@storage_options
@click.option("--keep-last", type=click.IntRange(min=0), help="Keep the N newest backups.")
@click.option("--older-than", help="Only prune backups created longer ago than this (45s, 90m, 12h, 30d, 2w).")
@click.option("--orphans", is_flag=True, help="Also delete segment objects no manifest references (complete backups).")
@click.option("--remnants", is_flag=True, help="Also delete backup ids that have objects but no backup.json.")
@click.option("--yes", is_flag=True, help="Really delete (without it, prune only prints what it would delete).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@handle_errors
def prune_cmd(
    *,
    config_path: Path | None,
    storage_url: str | None,
    backup_id: str | None,
    keep_last: int | None,
    older_than: str | None,
    orphans: bool,
    remnants: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Apply retention to whole backups. A dry run unless --yes; never deletes what a kept backup references."""
    located = locate(config_path, storage_url, backup_id)
    store = located.store()
    plan = plan_prune(
        store,
        keep_last=keep_last,
        older_than_s=parse_duration(older_than) if older_than else None,
        orphans=orphans,
        remnants=remnants,
    )
    deleted = execute_prune(store, plan) if yes else 0
    if as_json:
        click.echo(json.dumps({**plan.to_dict(), "dry_run": not yes, "deleted_objects": deleted}))
        return
    verb = "deleted" if yes else "would delete"
    for b in [*plan.delete, *plan.remnants]:
        click.echo(f"{verb} backup {b} ({len(plan.objects.get(b, []))} objects)")
    for key in plan.orphans:
        click.echo(f"{verb} unreferenced segment {key}")
    for key in plan.unknown:
        click.echo(f"kept {key}: its partition has no readable manifest (it may be the only copy)")
    for key in plan.protected:
        click.echo(f"kept {key}: referenced by a kept backup")
    for b, why in sorted(plan.keep.items()):
        click.echo(f"kept backup {b}: {why}")
    total = sum(len(v) for v in plan.objects.values()) + len(plan.orphans)
    click.echo(f"{verb} {total} objects, {human_bytes(plan.bytes)}" + ("" if yes else " (dry run: add --yes)"))
    sys.stdout.flush()
