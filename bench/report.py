"""The table (Markdown, printed and pasted into ``docs/performance.md``) and the targets: issue 14's for the backup
and the restore (the native data plane), issue 7's for telemetry and the scrape."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from typing import Any

from bench.cases import KCAT_ZSTD, OURS, RESTORE_12, RSS_PARTITIONS, CaseResult
from bench.measure import Spread
from bench.tools import Figures


@dataclass(frozen=True)
class Target:
    name: str
    figure: str
    met: bool | None  # None: not measured in this run
    comparison: bool = False  # a ratio shown beside the targets' ones, with no threshold of its own

    @property
    def verdict(self) -> str:
        if self.comparison:
            return "(comparison, no target)"
        return "yes" if self.met else "no" if self.met is not None else "not measured"


def cell(text: str) -> str:
    """Text for a Markdown table cell: a ``|`` (as in ``kcat -C | zstd -1``) would end the cell."""
    return text.replace("|", "\\|")


def _spread(values: list[float], fmt: str = "{:,.1f}") -> str:
    s = Spread.of(values)
    if s.n == 0 or math.isnan(s.median):
        return "-"
    return f"{fmt.format(s.median)} ±{s.spread_pct:.0f}%"


def _median(result: CaseResult, tool: str, attr: str) -> float:
    figs = result.rounds.get(tool, [])
    return Spread.of([getattr(f, attr) for f in figs]).median


def throughput_table(results: list[CaseResult]) -> list[str]:
    lines = [
        "| case | tool | records/s | MB/s | wall s | CPU s | peak RSS MB | first row / this row (MB/s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        if not result.rounds:
            continue
        reference = OURS if OURS in result.rounds else next(iter(result.rounds))
        ref_mbs = _median(result, reference, "mb_per_s")
        failed = [f["tool"] for f in result.extra.get("failures", [])]
        for tool, figs in result.rounds.items():
            if not figs:
                lines.append(f"| {result.title} | {cell(tool)} | failed in every round | | | | | |")
                continue
            mbs = _median(result, tool, "mb_per_s")
            ratio = "" if tool == reference or math.isnan(ref_mbs) else f"{ref_mbs / mbs:.2f}"
            note = f" ({failed.count(tool)} failed runs)" if tool in failed else ""
            lines.append(
                f"| {result.title} | {cell(tool)}{note} | {_spread([f.records_per_s for f in figs], '{:,.0f}')} "
                f"| {_spread([f.mb_per_s for f in figs])} | {_spread([f.wall_s for f in figs], '{:.2f}')} "
                f"| {_spread([f.cpu_s for f in figs])} | {_spread([f.peak_rss_mb for f in figs], '{:,.0f}')} "
                f"| {ratio} |"
            )
    return lines


def scrape_table(result: CaseResult | None) -> list[str]:
    if result is None or not result.extra:
        return []
    lines = [
        "| series | partitions | p50 ms | p99 ms | body KB | registry MB | scrape peak MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in result.extra.values():
        lines.append(
            f"| {f['series']:,} | {f['partitions']:,} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} "
            f"| {f['body_bytes'] / 1000:,.0f} | {f['registry_mb']:.1f} | {f['scrape_peak_mb']:.1f} |"
        )
    return lines


def _by_name(results: list[CaseResult], prefix: str) -> list[CaseResult]:
    return [r for r in results if r.name.startswith(prefix)]


ZSTD_DUMP_RATIO = 1.5
"""Backup MB/s against ``kcat -C | zstd -1``, at every value size."""
RAW_DUMP_RATIO = {1024: 0.5}
"""Backup MB/s against the raw ``kcat -C`` dump, by value size (at 100 B a comparison only)."""
CPU_BEFORE_S = 10.3
"""The backup's CPU seconds for 1,000,000 x 1 KB before the native data plane (``make bench``, 2026-11-21)."""
PRODUCER_PERF_RATIO = {1024: 1.2, 100: 0.9}
"""Restore records/s against ``ProducerPerformance``, by value size."""
PEAK_RSS_MB = 300


def _ratio_target(name: str, ratio: float, threshold: float | None) -> Target:
    met = None if math.isnan(ratio) or threshold is None else ratio >= threshold
    return Target(name, f"{ratio:.2f} x", met, comparison=threshold is None)


def targets(results: list[CaseResult]) -> list[Target]:
    return _backup_targets(results) + _restore_targets(results) + _other_targets(results)


def _backup_targets(results: list[CaseResult]) -> list[Target]:
    out: list[Target] = []
    for r in _by_name(results, "backup-"):
        size = r.data.value_size if r.data else 0
        ours = _median(r, OURS, "mb_per_s") if OURS in r.rounds else math.nan
        if KCAT_ZSTD in r.rounds:
            ratio = ours / _median(r, KCAT_ZSTD, "mb_per_s")
            out.append(
                _ratio_target(
                    f"backup MB/s >= {ZSTD_DUMP_RATIO} x {KCAT_ZSTD} ({size} B values)", ratio, ZSTD_DUMP_RATIO
                )
            )
        if "kcat -C" in r.rounds:
            ratio = ours / _median(r, "kcat -C", "mb_per_s")
            threshold = RAW_DUMP_RATIO.get(size)
            label = f">= {threshold} x" if threshold is not None else "vs"
            out.append(_ratio_target(f"backup MB/s {label} kcat -C dump ({size} B values)", ratio, threshold))
        if size == 1024 and OURS in r.rounds and r.data is not None:
            # half of the CPU before, scaled to the data set's size where the bench runs smaller
            limit = CPU_BEFORE_S / 2 * r.data.records / 1_000_000
            cpu = _median(r, OURS, "cpu_s")
            out.append(
                Target(
                    f"backup CPU s <= {limit:.2f} for {r.data.records:,} x 1024 B (half of {CPU_BEFORE_S} per million)",
                    f"{cpu:.2f} s ({cpu / limit:.2f} x the limit)",
                    None if math.isnan(cpu) else cpu <= limit,
                )
            )
    for r in _by_name(results, "scaling"):
        figs = r.rounds.get(f"{RSS_PARTITIONS} partitions")
        if figs:
            out.append(_rss_target("backup", figs))
    return out


def _restore_targets(results: list[CaseResult]) -> list[Target]:
    out: list[Target] = []
    for r in _by_name(results, "restore-"):
        size = r.data.value_size if r.data else 0
        if OURS in r.rounds and "ProducerPerformance" in r.rounds and size in PRODUCER_PERF_RATIO:
            threshold = PRODUCER_PERF_RATIO[size]
            ratio = _median(r, OURS, "records_per_s") / _median(r, "ProducerPerformance", "records_per_s")
            out.append(
                _ratio_target(
                    f"restore records/s >= {threshold} x ProducerPerformance ({size} B values)", ratio, threshold
                )
            )
    for r in _by_name(results, "scaling"):
        figs = r.rounds.get(RESTORE_12)
        if figs:
            out.append(_rss_target("restore", figs))
    return out


def _rss_target(what: str, figs: list[Figures]) -> Target:
    rss = Spread.of([f.peak_rss_mb for f in figs]).high
    return Target(
        f"{what} peak RSS <= {PEAK_RSS_MB} MB with {RSS_PARTITIONS} partitions",
        f"{rss:.0f} MB (max of rounds)",
        rss <= PEAK_RSS_MB,
    )


def _other_targets(results: list[CaseResult]) -> list[Target]:
    out: list[Target] = []
    for r in _by_name(results, "telemetry-"):
        # rounds alternate (on, off, on, off, ...): the median of each round's own ratio cancels the slow and fast
        # phases of a shared machine that a ratio of medians keeps
        pairs = list(zip(r.rounds.get("telemetry on", []), r.rounds.get("telemetry off", []), strict=False))
        if not pairs:
            continue
        ratio = statistics.median(on.mb_per_s / off.mb_per_s for on, off in pairs)
        cpu = 100 * (statistics.median(on.cpu_s / off.cpu_s for on, off in pairs) - 1)
        cost = 100 * (1 - ratio)
        out.append(
            Target(
                "telemetry costs <= 1% of backup throughput",
                f"{cost:+.1f}% throughput (median of {len(pairs)} paired rounds, on/off = {ratio:.3f}), "
                f"{cpu:+.1f}% CPU",
                cost <= 1.0,
            )
        )
    for r in _by_name(results, "scrape"):
        big = max(r.extra.values(), key=lambda f: f["series"]) if r.extra else None
        if big is not None:
            out.append(
                Target(
                    f"scrape p99 < 100 ms at {big['series']:,} series", f"{big['p99_ms']:.1f} ms", big["p99_ms"] < 100
                )
            )
            out.append(
                Target(
                    f"registry < 10 MB at {big['series']:,} series",
                    f"{big['registry_mb']:.1f} MB",
                    big["registry_mb"] < 10,
                )
            )
    return out


def machine() -> dict[str, Any]:
    def output(*args: str) -> str:
        try:
            done = subprocess.run(args, capture_output=True, text=True, check=False)
        except OSError:
            return "?"
        return (done.stdout + done.stderr).strip()

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo") if line.startswith("model name")), "?")
    mem = next((line.split()[1] for line in _read("/proc/meminfo") if line.startswith("MemTotal")), "0")
    kcat = next((line.strip() for line in output("kcat", "-V").splitlines() if "Version" in line), "?")
    zstd = next(iter(output("zstd", "--version").splitlines()), "?")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "java": output("java", "-version").splitlines()[0],
        "kcat": kcat,
        "zstd": zstd,
        "load_avg_at_start": os.getloadavg(),
    }


def _read(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def render(results: list[CaseResult], meta: dict[str, Any]) -> str:
    lines = [
        f"Run {meta['started']} on {meta['machine']['cpu']} ({meta['machine']['cores']} cores, "
        f"{meta['machine']['memory_gib']} GiB), scale {meta['scale']}, {meta['rounds']} rounds "
        f"(figures: median ±half-range over the rounds; MB = 10^6 payload bytes: key + value + headers).",
        "",
        *throughput_table([r for r in results if r.rounds]),
    ]
    scrape = next((r for r in results if r.name == "scrape"), None)
    if scrape is not None:
        lines += ["", *scrape_table(scrape)]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for t in targets(results):
        lines.append(f"| {cell(t.name)} | {t.figure} | {t.verdict} |")
    return "\n".join(lines)
