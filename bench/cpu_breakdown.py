"""``python -m bench.cpu_breakdown``: where the backup's CPU goes, per GB of payload, stage by stage.

On the bench's two backup data sets (``bench-1k``, ``bench-100b``; produced to the broker the way ``python -m bench``
does, at ``--scale``), each stage is measured in isolation with the code the backup runs:

1. **consume**: :class:`~kafka_backup.engine.kafka.source.KafkaSource` (the native consumer) draining the topic into
   RecordBatches, and the backup's ingest bookkeeping on them (``pa.Table.from_batches``, ``segment.payload_bytes``,
   the hand-off of the largest open segment once the open ones pass half of ``commit.MAX_BUFFERED_BYTES``), no
   encode. ``time.process_time`` around the drain (every thread), ``time.thread_time`` on the consuming thread;
   the difference is librdkafka's own threads (fetch, lz4 decompression, parsing). The consuming thread's time
   is split into the native ``consume()`` calls (librdkafka's queue, the Arrow build in Rust, the event
   translation) and the Python bookkeeping after them.
2. **Parquet encode without compression**: ``pq.write_table`` with ``segment.encode``'s options (checked to write
   ``segment.encode``'s bytes) but ``compression="none"``, of the segments stage 1 cut;
3. **zstd-1**: the same encode at the current settings minus stage 2;
4. **SHA-256** (``hashlib``) of the encoded bytes;
5. the rest of ``segment.encode``, step for step (the copy out of the Arrow buffer, the footer read for the
   timestamp range, ``payload_bytes``, first and last offsets) and the store write (``LocalStore.put`` of every
   segment: temporary file, fsync, rename);
6. **the full backup**: ``kafka-backup backup --json`` of the same topic as ``make bench`` runs it (one process,
   ``wait4``: start-up included); the same with ``OTEL_SDK_DISABLED=true`` (the difference is telemetry); and the
   backup of a 1,000-record topic (the fixed cost: imports, config, metadata, group join, manifests, the final
   client statistics). What the full backup costs beyond the stages, telemetry and the fixed cost is the commit
   protocol (manifests, Kafka offsets), the per-batch Python of ``backup/ingest.py`` beyond what stage 1 does, the
   encoder hand-off, and what running it all at once costs (two busy threads on a 2-core machine shared with the
   broker).

The floor: ``kcat -C -e -o beginning`` of the topic into ``/dev/null`` (the format ``make bench`` uses), and the
compressed dump ``kcat -C | zstd -1`` (bench's own peer), each one child process measured by ``wait4``.

Every stage runs ``--rounds`` times (the stages of one round in turn, so a slow phase of the machine spreads over
all of them); the table gives the minimum per GB (10^9 B) of payload, and the JSON every round.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from bench import parquet_choices as pqc
from bench.__main__ import broker
from bench.__main__ import data_sets as bench_data_sets
from bench.cases import base_env
from bench.measure import run
from bench.tools import TELEMETRY_OFF, backup_config, kcat_zstd_dump, ours_backup
from kafka_backup.engine.backup.commit import MAX_BUFFERED_BYTES
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.format import segment
from kafka_backup.engine.kafka.outage import OutageGuard
from kafka_backup.engine.kafka.source import TP, KafkaSource
from kafka_backup.engine.store.local import LocalStore
from kafka_backup.engine.testing import DataSet, fill
from rig.kafka import REPO_ROOT, require_tool

DRAIN_TIMEOUT_S = 600.0
TINY = DataSet("bench-breakdown-tiny", 6, 1000, 1024)
"""The fixed cost's topic: a backup of it is start-up, group join and manifests, next to no records."""


# ---- stage 1: consume ---------------------------------------------------------------------------------------------


@dataclass
class Drain:
    """One drain of a topic by the native consumer, and the segments the backup would have cut from it."""

    process_s: float = 0.0
    """CPU of every thread of this process during the drain (librdkafka's and the consuming thread)."""
    thread_s: float = 0.0
    """CPU of the consuming thread during the drain."""
    native_s: float = 0.0
    """CPU of the consuming thread inside ``KafkaSource.consume`` (the native consume and the event translation)."""
    records: int = 0
    payload: int = 0
    segments: list[pa.Table] = field(default_factory=list)


class _FromTheStart:
    """The rebalance handler: every assigned partition starts at offset 0, none paused, nothing to settle."""

    def assigned(self, partitions: list[TP]) -> tuple[dict[TP, int], list[TP]]:
        return dict.fromkeys(partitions, 0), []

    def revoked(self, partitions: list[TP]) -> None:
        pass

    def lost(self, partitions: list[TP]) -> None:
        pass


def _source(bootstrap: str, topic: str) -> KafkaSource:
    """A KafkaSource configured as the bench's backup configures it (own group, no statistics callback)."""
    backup_id = f"breakdown-{uuid.uuid4().hex[:8]}"
    config = BackupConfig.model_validate(json.loads(backup_config(bootstrap, topic, backup_id, Path("/nonexistent"))))
    log = cast("structlog.stdlib.BoundLogger", structlog.get_logger("bench.cpu_breakdown"))
    return KafkaSource(config, guard=OutageGuard(), log=log, instance_id=None, worker=None)


def drain(bootstrap: str, data: DataSet, *, keep_segments: bool) -> Drain:
    """Consume the whole topic into RecordBatches and cut them into segments as ``backup/ingest.py`` does (the open
    segments of all partitions together over half the memory bound: the largest is handed off); only the drain
    is timed, from the first ``consume`` to the last record (the group join's wait is idle, not CPU)."""
    source = _source(bootstrap, data.topic)
    out = Drain()
    open_chunks: dict[TP, list[pa.Table]] = {}
    open_bytes: dict[TP, int] = {}

    def hand_off(tp: TP) -> None:
        chunks = open_chunks.pop(tp)
        open_bytes.pop(tp)
        if keep_segments:
            out.segments.append(pa.concat_tables(chunks))

    try:
        source.subscribe([data.topic], _FromTheStart())
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        p0, t0 = time.process_time(), time.thread_time()
        while out.records < data.records:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{data.topic}: drained {out.records} of {data.records} records in time")
            n0 = time.thread_time()
            batch = source.consume()
            out.native_s += time.thread_time() - n0
            if source.fatal is not None:
                raise RuntimeError(f"{data.topic}: the consumer failed: {source.fatal}")
            for tp, records in batch.records.items():
                table = pa.Table.from_batches([records])
                size = segment.payload_bytes(table)
                open_chunks.setdefault(tp, []).append(table)
                open_bytes[tp] = open_bytes.get(tp, 0) + size
                out.records += table.num_rows
                out.payload += size
            total = sum(open_bytes.values())
            while total > MAX_BUFFERED_BYTES // 2:
                largest = max(open_bytes, key=open_bytes.__getitem__)
                total -= open_bytes[largest]
                hand_off(largest)
        out.process_s, out.thread_s = time.process_time() - p0, time.thread_time() - t0
        for tp in list(open_chunks):
            hand_off(tp)
    finally:
        source.close(10.0)
    if out.records != data.records or out.payload != data.payload_bytes:
        raise RuntimeError(
            f"{data.topic}: drained {out.records} records / {out.payload} B, expected "
            f"{data.records} / {data.payload_bytes}"
        )
    return out


# ---- stages 2-5: the segment encode, the hash, the store write ----------------------------------------------------


def _with_metadata(tables: list[pa.Table], topic: str) -> list[pa.Table]:
    return [t.replace_schema_metadata(pqc.metadata(t, topic)) for t in tables]


_TIMESTAMP = segment.SCHEMA.get_field_index("timestamp")


def _rest_of_encode(table: pa.Table, buffer: pa.Buffer) -> object:
    """What ``segment.encode`` does besides ``pq.write_table`` and the hash, step for step: the copy out of the Arrow
    buffer, the footer read for the timestamp range, ``payload_bytes``, the first and last offset and timestamp."""
    data = buffer.to_pybytes()
    stats = pq.read_metadata(pa.BufferReader(buffer)).row_group(0).column(_TIMESTAMP).statistics
    offsets, ts = table.column("offset"), table.column("timestamp")
    return (
        len(data),
        stats.min,
        stats.max,
        segment.payload_bytes(table),
        offsets[0].as_py(),
        offsets[-1].as_py(),
        ts[0].as_py(),
        ts[-1].as_py(),
    )


def segment_stages(tables: list[pa.Table], topic: str, store_root: Path) -> dict[str, pqc.Pass]:
    """One timed pass over every segment per stage (``parquet_choices``' passes: ``process_time`` around the step
    alone); the zstd encode's bytes are checked to be ``segment.encode``'s."""
    tables = _with_metadata(tables, topic)
    pqc.check_current_is_encode(tables[0], topic)
    buffers = [pqc.write(t, pqc.CURRENT) for t in tables]
    blobs = [b.to_pybytes() for b in buffers]
    store = LocalStore(f"file://{store_root}")
    return {
        "encode_none": pqc.encode_pass(tables, pqc.NONE.options),
        "encode_zstd": pqc.encode_pass(tables, pqc.CURRENT),
        "sha256": pqc.step_pass(len(tables), lambda i: hashlib.sha256(blobs[i]).hexdigest()),
        "encode_rest": pqc.step_pass(len(tables), lambda i: _rest_of_encode(tables[i], buffers[i])),
        "store_put": pqc.step_pass(
            len(tables), lambda i: store.put(f"seg/{i:05d}.parquet", blobs[i], operation="segment")
        ),
    }


# ---- the floor and the full backup (child processes) --------------------------------------------------------------


def kcat_null(bootstrap: str, data: DataSet) -> float:
    """CPU seconds of ``kcat -C -e -o beginning`` of the topic into /dev/null (bench's format)."""
    kcat = require_tool("kcat", "apt-get install kcat")
    cmd = [kcat, "-C", "-b", bootstrap, "-t", data.topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"]
    return run(cmd, env=base_env(), stdout_path=Path(os.devnull)).check("kcat -C").cpu_s


# ---- the run ------------------------------------------------------------------------------------------------------


def measure(bootstrap: str, data: DataSet, rounds: int, workdir: Path) -> dict[str, Any]:
    """Every stage ``rounds`` times on ``data``; returns the CPU seconds of every round per stage."""
    env = base_env()
    cpu: dict[str, list[float]] = {}

    def note(stage: str, seconds: float) -> None:
        cpu.setdefault(stage, []).append(seconds)

    segments: list[pa.Table] = []
    for r in range(rounds):
        gc.collect()
        d = drain(bootstrap, data, keep_segments=not segments)
        segments = segments or d.segments
        note("consume", d.process_s)
        note("consume_librdkafka_threads", d.process_s - d.thread_s)
        note("consume_thread_native", d.native_s)
        note("consume_thread_python", d.thread_s - d.native_s)
        note("kcat", kcat_null(bootstrap, data))
        note("kcat_zstd", kcat_zstd_dump(bootstrap, data, workdir / f"{data.topic}.kcat.zst", env).cpu_s)
        note("backup", ours_backup(bootstrap, data, workdir, env=env)[0].cpu_s)
        note("backup_tiny", ours_backup(bootstrap, TINY, workdir, env=env)[0].cpu_s)
        note("backup_no_telemetry", ours_backup(bootstrap, data, workdir, env=env | TELEMETRY_OFF)[0].cpu_s)
        print(
            f"  [{data.topic}] round {r + 1}/{rounds}: consume {d.process_s:.2f} s (consuming thread "
            f"{d.thread_s:.2f}), kcat {cpu['kcat'][-1]:.2f}, kcat|zstd {cpu['kcat_zstd'][-1]:.2f}, backup "
            f"{cpu['backup'][-1]:.2f}, backup of {TINY.records:,} records {cpu['backup_tiny'][-1]:.2f} CPU s",
            flush=True,
        )
    (workdir / f"{data.topic}.kcat.zst").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="breakdown-store-", dir=workdir) as store_root:
        passes, _stored = pqc.interleaved(segment_stages(segments, data.topic, Path(store_root)), rounds)
    cpu |= passes
    sizes = [s.num_rows for s in segments]
    return {
        "data": data.__dict__ | {"payload_bytes": data.payload_bytes},
        "segments": {"count": len(segments), "min_records": min(sizes), "max_records": max(sizes)},
        "cpu_s": cpu,
    }


def rows(res: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(stage, CPU s per GB, share of the full backup) from the minimum over the rounds of every stage."""
    gb = res["data"]["payload_bytes"] / 1e9
    best = {stage: min(values) for stage, values in res["cpu_s"].items()}
    per_gb = {stage: seconds / gb for stage, seconds in best.items()}
    zstd = per_gb["encode_zstd"] - per_gb["encode_none"]
    stages = per_gb["consume"] + per_gb["encode_zstd"] + per_gb["sha256"] + per_gb["encode_rest"] + per_gb["store_put"]
    fixed = best["backup_tiny"]
    full = per_gb["backup"]
    telemetry = full - per_gb["backup_no_telemetry"]
    rest = full - stages - fixed / gb - telemetry

    def row(name: str, value: float) -> tuple[str, float, float]:
        return name, value, value / full

    return [
        row("floor: `kcat -C` into /dev/null (whole process)", per_gb["kcat"]),
        row("floor: `kcat -C | zstd -1` (whole pipeline)", per_gb["kcat_zstd"]),
        row("1. consume: KafkaSource into RecordBatches + ingest's Arrow bookkeeping (all threads)", per_gb["consume"]),
        row("   of which librdkafka's threads (fetch, lz4, parse)", per_gb["consume_librdkafka_threads"]),
        row("   of which the consuming thread: `KafkaSource.consume` (native)", per_gb["consume_thread_native"]),
        row("   of which the consuming thread: Python bookkeeping", per_gb["consume_thread_python"]),
        row("2. Parquet encode, no compression", per_gb["encode_none"]),
        row("3. zstd-1 (encode with zstd-1 minus without)", zstd),
        row("4. SHA-256 of the segment bytes", per_gb["sha256"]),
        row("5a. rest of `segment.encode` (copy out, footer read, payload bytes)", per_gb["encode_rest"]),
        row("5b. store write (`LocalStore.put`: temp file, fsync, rename)", per_gb["store_put"]),
        row("= sum of the stages 1-5", stages),
        row(f"fixed cost: backup of {TINY.records:,} records (start-up, join, manifests), per this GB", fixed / gb),
        row("telemetry: full backup minus the same with `OTEL_SDK_DISABLED=true`", telemetry),
        row("remainder: commit protocol, per-batch Python of ingest, hand-off, running it all at once", rest),
        row("6. the full backup (`kafka-backup backup`, whole process)", full),
    ]


def render(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    labels = [f"{results[n]['data']['records']:,} x {results[n]['data']['value_size']} B" for n in names]
    head = "| stage | " + " | ".join(f"{lab}: CPU s/GB | share" for lab in labels) + " |"
    lines = [head, "|---|" + "---:|---:|" * len(names)]
    tables = [rows(results[n]) for n in names]
    for i, (stage, _value, _share) in enumerate(tables[0]):
        cells = []
        for t in tables:
            _name, value, share = t[i]
            cells += [f"{value:.2f}", f"{100 * share:.0f}%"]
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def merged(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The results of several runs as one: every stage's rounds of all of them (the table takes the minimum)."""
    out: dict[str, dict[str, Any]] = {}
    for run_ in runs:
        for name, res in run_["results"].items():
            if name not in out:
                out[name] = res | {"cpu_s": {}}
            elif out[name]["data"] != res["data"]:
                raise ValueError(f"{name}: the runs measured different data sets")
            for stage, rounds in res["cpu_s"].items():
                out[name]["cpu_s"].setdefault(stage, []).extend(rounds)
    return out


@contextmanager
def _workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="kafka-backup-breakdown-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.cpu_breakdown", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_SCALE") or 1.0))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS") or 3))
    parser.add_argument("--bootstrap", default=os.environ.get("BENCH_BOOTSTRAP"))
    parser.add_argument("--json", type=Path, help="write every round's figures here")
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="measure nothing: the table of these runs' JSON, every round of each"
    )
    args = parser.parse_args(argv)
    if args.merge:
        print(render(merged([json.loads(path.read_text()) for path in args.merge])))
        return 0
    sets = bench_data_sets(args.scale)
    chosen = {"1k": sets["1k"], "100b": sets["100b"]}
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scale": args.scale,
        "rounds": args.rounds,
        "machine": pqc.machine(),
        "load_avg_at_start": os.getloadavg(),
    }
    results: dict[str, dict[str, Any]] = {}
    with _workdir() as workdir, broker(args.bootstrap, workdir) as bootstrap:
        for data in (*chosen.values(), TINY):
            t0 = time.monotonic()
            if fill(bootstrap, data):
                print(f"produced {data.topic} in {time.monotonic() - t0:.0f} s", flush=True)
        for name, data in chosen.items():
            results[name] = measure(bootstrap, data, args.rounds, workdir)
    meta["load_avg_at_end"] = os.getloadavg()
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    table = render(results)
    print()
    print(
        f"pyarrow {pa.__version__} on {meta['machine']['cpu']} ({meta['machine']['cores']} cores), load average "
        f"{meta['load_avg_at_start'][0]:.1f} at start, {meta['load_avg_at_end'][0]:.1f} at end; "
        f"CPU s (user + sys) per GB (10^9 B) of payload, the minimum of {args.rounds} rounds"
    )
    for name, res in results.items():
        seg = res["segments"]
        print(f"{name}: {seg['count']} segments of {seg['min_records']:,}-{seg['max_records']:,} records")
    print(table)
    out = args.json or REPO_ROOT / "bench-results" / f"cpu-breakdown-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    (out.with_suffix(".md")).write_text(table + "\n")
    print(f"\nraw results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
