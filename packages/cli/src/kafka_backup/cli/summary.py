"""The end-of-run summary block, in human units (the form of the reference tool's CLI output)."""

from __future__ import annotations

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


def backup_block(records: int, duration_s: float, compressed_bytes: int, ratio: float, ok: bool = True) -> str:
    rate = records / duration_s if duration_s > 0 else 0.0
    return block(
        "Backup completed successfully" if ok else "Backup failed",
        [
            ("Records", f"{records:,}"),
            ("Duration", human_duration(duration_s)),
            ("Throughput", f"{rate:,.0f} records/sec"),
            ("Compressed", f"{human_bytes(compressed_bytes)} ({ratio:.1f}x ratio)"),
        ],
    )
