"""The end-of-run summary block, in human units (the form of the reference tool's CLI output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafka_backup.engine import BackupSummary

RULE = "─" * 32


def human_bytes(n: float) -> str:
    """Decimal units as in the reference block (``245 MB``)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" or n >= 100 else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 segment``, ``2 segments``, ``1,345 records``: the count with the noun in the right number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def human_duration(seconds: float) -> str:
    """``5m 32s``, ``1h 2m 3s``, ``12.3s`` under a minute."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes}m {secs}s" if hours else f"{minutes}m {secs}s"


def block(title: str, rows: list[tuple[str, str]]) -> str:
    return "\n".join([title, RULE, *(f"{name}: {value}" for name, value in rows)])


def backup_block(summary: BackupSummary, ok: bool = True) -> str:
    """The rate is over working time (from the first assignment): a wait for the group is shown, not averaged in."""
    duration = human_duration(summary.duration_s)
    waited = summary.duration_s - summary.working_s
    if summary.working_s > 0 and waited >= 1.0:
        duration += f" ({human_duration(waited)} of it waiting for partitions)"
    if not ok:
        title = "Backup failed"
    elif summary.status == "stopped":
        title = "Backup stopped before the end of its snapshot: incomplete, run it again to resume"
    else:
        title = "Backup completed successfully"
    return block(
        title,
        [
            ("Records", f"{summary.records:,}"),
            ("Duration", duration),
            ("Throughput", f"{summary.records_per_sec:,.0f} records/sec"),
            ("Compressed", f"{human_bytes(summary.compressed_bytes)} ({summary.ratio:.1f}x ratio)"),
            ("Stored", f"{counted(summary.segments, 'segment')}, {counted(summary.partitions, 'partition')}"),
        ],
    )
