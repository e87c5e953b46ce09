"""The cases of issue 7. Each runs its contestants interleaved (A B C A B C ...) for the given rounds.

A case returns a :class:`CaseResult`: per contestant the figures of every round; the report takes medians and
ranges. Interleaving spreads slow phases of a shared machine over every contestant instead of one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import run
from bench.tools import (
    TELEMETRY_OFF,
    Figures,
    java_consumer_perf,
    java_producer_perf,
    kcat_dump,
    kcat_produce,
    kcat_zstd_dump,
    ours_backup,
    ours_restore,
    payload_file,
)
from kafka_backup.engine.testing import DataSet
from kafka_backup.telemetry.testing import OtlpGrpcReceiver

OURS = "kafka-backup"
KCAT_ZSTD = "kcat -C | zstd -1"
"""The compressed peer: what an operator would hand-roll for a compressed dump."""


@dataclass
class CaseResult:
    name: str
    title: str
    data: DataSet | None
    rounds: dict[str, list[Figures]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "data": None if self.data is None else self.data.__dict__ | {"payload_bytes": self.data.payload_bytes},
            "rounds": {tool: [f.as_dict() for f in figs] for tool, figs in self.rounds.items()},
            "extra": self.extra,
        }


def interleave(result: CaseResult, contestants: Mapping[str, Callable[[], Figures]], rounds: int) -> CaseResult:
    """Run the contestants in turn for ``rounds`` rounds. A failed run is recorded (``extra["failures"]``) and the
    case goes on: one flaky run must not cost the whole benchmark."""
    for r in range(rounds):
        for name, contestant in contestants.items():
            result.rounds.setdefault(name, [])
            try:
                figures = contestant()
            except RuntimeError as exc:
                message = str(exc).strip().splitlines()
                result.extra.setdefault("failures", []).append({"tool": name, "round": r + 1, "error": str(exc)})
                print(f"  [{result.name}] round {r + 1}/{rounds} {name:<22} FAILED: {message[-1] if message else exc}")
                continue
            result.rounds[name].append(figures)
            print(
                f"  [{result.name}] round {r + 1}/{rounds} {name:<22} {figures.wall_s:7.2f} s "
                f"{figures.mb_per_s:8.1f} MB/s {figures.cpu_s:7.1f} cpu-s {figures.peak_rss_mb:7.0f} MB rss",
                flush=True,
            )
    return result


def base_env() -> dict[str, str]:
    """The environment of every child: ours logs at warning so logging is not what we measure."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("OTEL_", "KAFKA_BACKUP_")):
            del env[name]
    env["KAFKA_BACKUP_LOG_LEVEL"] = "warning"
    return env


def backup(bootstrap: str, data: DataSet, workdir: Path, rounds: int) -> tuple[CaseResult, Path, Path]:
    """Backup (zstd, checksums, default telemetry) vs kcat dump vs the same dump piped into ``zstd -1`` vs
    ConsumerPerformance; returns a kept backup and the (uncompressed) kcat dump for the restore case."""
    env = base_env()
    dump = workdir / f"{data.topic}.kcat"
    zdump = workdir / f"{data.topic}.kcat.zst"
    kept: list[Path] = []

    def ours() -> Figures:
        figures, root = ours_backup(bootstrap, data, workdir, env=env, keep=not kept)
        if not kept:
            kept.append(root)
        return figures

    result = CaseResult(
        f"backup-{data.topic}",
        f"Backup {data.records:,} x {data.value_size} B over {data.partitions} partitions",
        data,
    )
    interleave(
        result,
        {
            OURS: ours,
            "kcat -C": lambda: kcat_dump(bootstrap, data, dump, env),
            KCAT_ZSTD: lambda: kcat_zstd_dump(bootstrap, data, zdump, env),
            "ConsumerPerformance": lambda: java_consumer_perf(bootstrap, data, env),
        },
        rounds,
    )
    return result, kept[0], dump


def restore(bootstrap: str, data: DataSet, *, backup_root: Path, dump: Path, workdir: Path, rounds: int) -> CaseResult:
    """Restore into a new topic vs ProducerPerformance (same value size) vs kcat -P replaying the kcat dump."""
    env = base_env()
    payloads = payload_file(data, workdir / f"{data.topic}.payloads")
    result = CaseResult(
        f"restore-{data.topic}",
        f"Restore {data.records:,} x {data.value_size} B into {data.partitions} partitions",
        data,
    )
    return interleave(
        result,
        {
            OURS: lambda: ours_restore(bootstrap, data, backup_root, workdir, env),
            "ProducerPerformance": lambda: java_producer_perf(bootstrap, data, payloads, env),
            "kcat -P": lambda: kcat_produce(bootstrap, data, dump, env),
        },
        rounds,
    )


def telemetry(bootstrap: str, data: DataSet, workdir: Path, rounds: int) -> CaseResult:
    """The same backup with full telemetry (Prometheus reader and /metrics endpoint, OTLP/gRPC metrics every second,
    traces and logs to a local receiver) vs with the SDK disabled."""
    off = base_env() | TELEMETRY_OFF
    with OtlpGrpcReceiver() as receiver:
        full = base_env() | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        }
        result = CaseResult(
            f"telemetry-{data.topic}", f"Telemetry cost: backup of {data.records:,} x {data.value_size} B", data
        )
        interleave(
            result,
            {
                "telemetry on": lambda: ours_backup(
                    bootstrap, data, workdir, env=full, extra_args=("--expose-metrics", "127.0.0.1:0")
                )[0],
                "telemetry off": lambda: ours_backup(bootstrap, data, workdir, env=off)[0],
            },
            rounds,
        )
        result.extra["otlp_metric_points_received"] = len(receiver.metrics())
        result.extra["otlp_spans_received"] = len(receiver.spans())
    if not result.extra["otlp_metric_points_received"]:
        raise RuntimeError("the OTLP receiver got no metrics: the telemetry-on runs did not export")
    return result


RSS_PARTITIONS = 12
RESTORE_12 = f"restore, {RSS_PARTITIONS} partitions"
"""The scaling case's restore contestant: after the backups in each round, so the first round's 12-partition backup
is there to restore."""


def scaling(bootstrap: str, sets: list[DataSet], workdir: Path, rounds: int) -> CaseResult:
    """Backup of the same total data spread over 1, 12 and 48 partitions, and the restore of the 12-partition backup
    into 12 partitions (the peak RSS of both 12-partition runs is a target)."""
    env = base_env()
    title = f"Backup of {sets[0].records:,} x {sets[0].value_size} B by partition count, and a restore"
    result = CaseResult("scaling", title, None)
    result.extra["data"] = [d.__dict__ for d in sets]
    twelve = next(d for d in sets if d.partitions == RSS_PARTITIONS)
    kept: list[Path] = []

    def backup_of(data: DataSet) -> Callable[[], Figures]:
        def run_once() -> Figures:
            keep = data is twelve and not kept
            figures, root = ours_backup(bootstrap, data, workdir, env=env, keep=keep)
            if keep:
                kept.append(root)
            return figures

        return run_once

    contestants = {f"{d.partitions} partition{'s' * (d.partitions > 1)}": backup_of(d) for d in sets}
    contestants[RESTORE_12] = lambda: ours_restore(bootstrap, twelve, kept[0], workdir, env)
    return interleave(result, contestants, rounds)


def scrape(series_counts: list[int], requests: int) -> CaseResult:
    """/metrics latency and registry memory at each series count, each in a fresh process."""
    result = CaseResult("scrape", "/metrics scrape latency and registry memory", None)
    for series in series_counts:
        cmd = [sys.executable, "-m", "bench.scrape", "--series", str(series), "--requests", str(requests)]
        sample = run(cmd, env=base_env()).check("bench.scrape")
        figures = json.loads(sample.stdout)
        result.extra[str(series)] = figures
        print(
            f"  [scrape] {figures['series']:>6} series: p50 {figures['p50_ms']:.1f} ms, "
            f"p99 {figures['p99_ms']:.1f} ms, registry {figures['registry_mb']:.1f} MB",
            flush=True,
        )
    return result
