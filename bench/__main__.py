"""``python -m bench``: start a broker, make the data, run the cases, print the table, write the raw JSON.

Knobs (``make bench`` passes the environment through):
- ``--scale`` / ``BENCH_SCALE`` (default 1.0): multiplies every record count; 0.05 is a smoke run of a few minutes.
- ``--rounds`` / ``BENCH_ROUNDS`` (default 3): interleaved rounds per case (the telemetry case runs at least 5).
- ``--cases`` / ``BENCH_CASES``: comma-separated subset of backup, restore, telemetry, scrape, scaling.
- ``--bootstrap``: use a running cluster instead of starting one (its topics ``bench-*`` are reused when complete).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import cases
from bench.cases import CaseResult
from bench.report import machine, render
from kafka_backup.engine.testing import DataSet, fill
from rig.kafka import REPO_ROOT, ClusterSpec, KafkaCluster, Listener

ALL_CASES = ("backup", "restore", "telemetry", "scrape", "scaling")


def data_sets(scale: float) -> dict[str, DataSet]:
    def n(records: int) -> int:
        return max(1000, round(records * scale))

    return {
        "1k": DataSet("bench-1k", 6, n(1_000_000), 1024),
        "100b": DataSet("bench-100b", 6, n(2_000_000), 100),
        **{f"scale-{p}": DataSet(f"bench-scale-{p}", p, n(500_000), 1024, seed=11) for p in (1, 12, 48)},
    }


@contextmanager
def broker(bootstrap: str | None, workdir: Path) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    spec = ClusterSpec(listeners=(Listener(),), heap="1g")
    cluster = KafkaCluster(spec, workdir=workdir / "kafka")
    print(f"starting a broker in {cluster.workdir}", flush=True)
    cluster.start()
    try:
        yield cluster.bootstrap()
    finally:
        cluster.stop()


def run_cases(
    bootstrap: str, sets: dict[str, DataSet], selected: list[str], workdir: Path, rounds: int
) -> list[CaseResult]:
    results: list[CaseResult] = []
    needed = ["1k", "100b"] if set(selected) & {"backup", "restore", "telemetry"} else []
    needed += [f"scale-{p}" for p in (1, 12, 48)] if "scaling" in selected else []
    for name in needed:
        t0 = time.monotonic()
        if fill(bootstrap, sets[name]):
            print(f"produced {sets[name].topic} in {time.monotonic() - t0:.0f} s", flush=True)
    kept: dict[str, tuple[Path, Path]] = {}
    if "backup" in selected or "restore" in selected:
        for name in ("1k", "100b"):
            result, backup_root, dump = cases.backup(bootstrap, sets[name], workdir, rounds)
            kept[name] = (backup_root, dump)
            if "backup" in selected:
                results.append(result)
    if "restore" in selected:
        for name in ("1k", "100b"):
            root, dump = kept[name]
            results.append(
                cases.restore(bootstrap, sets[name], backup_root=root, dump=dump, workdir=workdir, rounds=rounds)
            )
    if "telemetry" in selected:
        results.append(cases.telemetry(bootstrap, sets["1k"], workdir, max(5, rounds)))
    if "scaling" in selected:
        results.append(cases.scaling(bootstrap, [sets[f"scale-{p}"] for p in (1, 12, 48)], workdir, rounds))
    if "scrape" in selected:
        results.append(cases.scrape([1000, 10_000], requests=200))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE") or 1.0))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS") or 3))
    parser.add_argument("--cases", default=os.environ.get("BENCH_CASES") or ",".join(ALL_CASES))
    parser.add_argument("--bootstrap", default=os.environ.get("BENCH_BOOTSTRAP"))
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench-results")
    args = parser.parse_args(argv)
    selected = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(selected) - set(ALL_CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {', '.join(ALL_CASES)}")

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta: dict[str, Any] = {
        "started": started,
        "scale": args.scale,
        "rounds": args.rounds,
        "cases": selected,
        "machine": machine(),
    }
    workdir = Path(tempfile.mkdtemp(prefix="kafka-backup-bench-"))
    try:
        with broker(args.bootstrap, workdir) as bootstrap:
            results = run_cases(bootstrap, data_sets(args.scale), selected, workdir, args.rounds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta["load_avg_at_end"] = os.getloadavg()
    table = render(results, meta)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / f"bench-{stamp}.json"
    raw.write_text(json.dumps({"meta": meta, "results": [r.as_dict() for r in results]}, indent=2, default=str))
    (args.out / f"bench-{stamp}.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nraw results: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
