"""``python -m bench.parquet_choices``: the Parquet writer's choices of ``segment.encode``, one by one, measured.

No Kafka: the segment tables are built in memory by ``_table`` (in exactly ``segment.SCHEMA``, as the native consumer
delivers them) from
the benchmark's own records — the values, keys and headers ``testing.produce`` sends for ``bench-1k`` and
``bench-100b``, in the same order, round-robin over 6 partitions, each partition cut into segments of about the size
the bench's backup writes (its 48 MiB memory bound hands off the largest open segment once the open ones pass 24 MiB;
a real backup of these records wrote 30 segments of median 7.6 MiB at 1 KB and 13 of median 5.5 MiB at 100 B; the
default 7 MiB makes 30 and 12). Timestamps are CreateTime, increasing by 1 ms
every 150 records of the topic (about the rate the bench's producer reaches).

Per variant of ``pq.write_table``'s options: CPU seconds per GB of payload (``time.process_time`` around each
``write_table`` into a ``pa.BufferOutputStream``, summed over the segments; the best of ``--repeats`` passes, the
variants' passes interleaved) and the stored size. Then the CPU breakdown of ``segment.encode`` at the current
settings: the Parquet encode without compression, zstd-1 (current minus none), the copy out of the Arrow buffer,
SHA-256 of the segment bytes and ``segment.payload_bytes``, beside one whole ``segment.encode``.

``--json PATH`` writes the raw figures (every pass) beside the table.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from kafka_backup.engine.format import segment
from kafka_backup.engine.testing import HEADERS, DataSet, key, value

PARTITIONS = 6
SEGMENT_MIB = 7.0
RECORDS_PER_MS = 150
BASE_TIMESTAMP_MS = 1_795_000_000_000

# What segment.encode passes, besides the row group size (one row group: the table's rows) and the metadata.
CURRENT: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "write_statistics": ["offset", "timestamp"],
    "use_dictionary": ["topic"],
}


@dataclass(frozen=True)
class Variant:
    name: str
    changes: dict[str, Any]
    """Options that differ from :data:`CURRENT`."""

    @property
    def options(self) -> dict[str, Any]:
        return CURRENT | self.changes


_DELTA = {"offset": "DELTA_BINARY_PACKED", "timestamp": "DELTA_BINARY_PACKED"}
_CONSTANT = ["topic", "partition", "timestamp_type"]
_FIXED_WIDTH = ["partition", "offset", "timestamp"]
VARIANTS = [
    Variant("current (zstd-1, stats offset+timestamp, dictionary topic)", {}),
    Variant("dictionary also on key", {"use_dictionary": ["topic", "key"]}),
    Variant("dictionary also on value", {"use_dictionary": ["topic", "value"]}),
    Variant("dictionary on every column (pyarrow default)", {"use_dictionary": True}),
    Variant("dictionary also on partition, timestamp_type", {"use_dictionary": _CONSTANT}),
    Variant("statistics on every column (pyarrow default)", {"write_statistics": True}),
    Variant("data_page_size 1 MiB (Arrow's default)", {"data_page_size": 1 << 20}),
    Variant("data_page_size 8 MiB", {"data_page_size": 8 << 20}),
    Variant("write_page_index=True", {"write_page_index": True}),
    Variant("byte_stream_split on partition, offset, timestamp", {"use_byte_stream_split": _FIXED_WIDTH}),
    Variant("DELTA_BINARY_PACKED on offset, timestamp", {"column_encoding": _DELTA}),
    Variant("zstd level 3", {"compression_level": 3}),
    Variant("lz4", {"compression": "lz4", "compression_level": None}),
    Variant("snappy", {"compression": "snappy", "compression_level": None}),
    Variant("no compression", {"compression": "none", "compression_level": None}),
]  # fmt: skip
NONE = VARIANTS[-1]


def data_sets(records_1k: int, records_100b: int) -> dict[str, DataSet]:
    """The bench's two backup data sets (``bench/__main__.py``), at these record counts."""
    return {
        "1k": DataSet("bench-1k", PARTITIONS, records_1k, 1024),
        "100b": DataSet("bench-100b", PARTITIONS, records_100b, 100),
    }


_Record = tuple[int, int, bytes, bytes]
"""(offset, timestamp, key, value) of one record; every record carries ``HEADERS``."""


def _table(topic: str, partition: int, records: Sequence[_Record]) -> pa.Table:
    """Records as one segment's table in ``segment.SCHEMA`` (CreateTime timestamps)."""
    n = len(records)
    return pa.table(
        {
            "topic": pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array([topic])),
            "partition": pa.array([partition] * n, pa.int32()),
            "offset": pa.array([r[0] for r in records], pa.int64()),
            "timestamp": pa.array([r[1] for r in records], pa.int64()),
            "timestamp_type": pa.array([1] * n, pa.int8()),
            "key": pa.array([r[2] for r in records], pa.binary()),
            "value": pa.array([r[3] for r in records], pa.binary()),
            "headers": pa.array([HEADERS] * n, segment.HEADER_TYPE),
        },
        schema=segment.SCHEMA,
    )


def segment_tables(data: DataSet, segment_bytes: int) -> list[pa.Table]:
    """The data set's records as ``testing.produce`` makes them (value, then key, from one seeded generator; record
    ``i`` to partition ``i % partitions``), each partition cut into segments of about ``segment_bytes`` payload."""
    rng = random.Random(data.seed)  # noqa: S311 - sample data, not security
    by_partition: list[list[_Record]] = [[] for _ in range(data.partitions)]
    for i in range(data.records):
        record_value = value(rng, i, data.value_size)
        part = by_partition[i % data.partitions]
        part.append((len(part), BASE_TIMESTAMP_MS + i // RECORDS_PER_MS, key(rng), record_value))
    per_record = data.payload_bytes // data.records
    rows = max(1, segment_bytes // per_record)
    tables = []
    for partition, messages in enumerate(by_partition):
        for start in range(0, len(messages), rows):
            tables.append(_table(data.topic, partition, messages[start : start + rows]))
    return tables


def metadata(table: pa.Table, topic: str) -> dict[str, str]:
    """The key-value metadata ``segment.encode`` writes (the same strings, so the same bytes)."""
    offsets = table.column("offset")
    return {
        "kafka_backup.format": segment.FORMAT,
        "kafka_backup.format_version": segment.FORMAT_VERSION,
        "kafka_backup.topic": topic,
        "kafka_backup.partition": str(table.column("partition")[0].as_py()),
        "kafka_backup.start_offset": str(offsets[0].as_py()),
        "kafka_backup.end_offset": str(offsets[-1].as_py() + 1),
        "kafka_backup.codec": "zstd",
    }


Pass = Callable[[], tuple[float, dict[str, int] | None]]
"""One timed pass over all segments: its CPU seconds and, for an encode, the stored bytes per column (and total)."""


def write(table: pa.Table, options: dict[str, Any]) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=max(1, table.num_rows), **options)
    return sink.getvalue()


def column_bytes(buffer: pa.Buffer) -> dict[str, int]:
    """Stored bytes of a Parquet file: ``total`` and per top-level column (its column chunks, compressed)."""
    row_group = pq.read_metadata(pa.BufferReader(buffer)).row_group(0)
    out = {"total": buffer.size}
    for j in range(row_group.num_columns):
        chunk = row_group.column(j)
        name = chunk.path_in_schema.split(".")[0]
        out[name] = out.get(name, 0) + chunk.total_compressed_size
    return out


def encode_pass(tables: Sequence[pa.Table], options: dict[str, Any]) -> Pass:
    """``pq.write_table`` of every segment with ``options``: only the write is timed."""

    def one_pass() -> tuple[float, dict[str, int]]:
        total = 0.0
        stored: dict[str, int] = {}
        for table in tables:
            sink = pa.BufferOutputStream()
            t0 = time.process_time()
            pq.write_table(table, sink, row_group_size=max(1, table.num_rows), **options)
            total += time.process_time() - t0
            for name, n in column_bytes(sink.getvalue()).items():
                stored[name] = stored.get(name, 0) + n
        return total, stored

    return one_pass


def step_pass(count: int, step: Callable[[int], object]) -> Pass:
    """``step(i)`` for every segment ``i``: only the steps are timed."""

    def one_pass() -> tuple[float, None]:
        total = 0.0
        for i in range(count):
            t0 = time.process_time()
            step(i)
            total += time.process_time() - t0
        return total, None

    return one_pass


def interleaved(contestants: dict[str, Pass], repeats: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Every contestant's passes, interleaved (A B C ... A B C ...) so that a slow phase of a shared machine is
    spread over all of them; each pass after a full collection, with automatic collection off meanwhile. Returns
    the CPU seconds of every pass and what each contestant's passes stored (the same every pass, or it raises)."""
    cpu: dict[str, list[float]] = {name: [] for name in contestants}
    stored: dict[str, Any] = {}
    for _ in range(repeats):
        for name, one_pass in contestants.items():
            gc.collect()
            gc.disable()
            try:
                seconds, sizes = one_pass()
            finally:
                gc.enable()
            cpu[name].append(seconds)
            if stored.setdefault(name, sizes) != sizes:
                raise RuntimeError(f"{name}: one pass stored {sizes}, another {stored[name]}")
    return cpu, stored


def only(option: Any, column: str) -> Any:
    """A per-column option (a list of columns, or True/False) for a table of ``column`` alone."""
    return [c for c in option if c == column] if isinstance(option, list) else option


def contestants(tables: Sequence[pa.Table], topic: str, variants: Sequence[Variant], full: bool) -> dict[str, Pass]:
    """The variants, then the CPU breakdown of ``segment.encode`` at the current settings: its other steps, the whole
    call, and the Parquet encode of each column alone (the current options restricted to it)."""
    blobs = [write(t, CURRENT).to_pybytes() for t in tables]
    buffers = [write(t, CURRENT) for t in tables]

    def encode(i: int) -> object:
        t = tables[i]
        offsets = t.column("offset")
        return segment.encode(
            t,
            topic=topic,
            partition=t.column("partition")[0].as_py(),
            start_offset=offsets[0].as_py(),
            end_offset=offsets[-1].as_py() + 1,
            codec="zstd",
            level=1,
        )

    out: dict[str, Pass] = {v.name: encode_pass(tables, v.options) for v in variants}
    if not full:
        return out
    out |= {
        STEP + "copy out of the Arrow buffer (to_pybytes)": step_pass(len(tables), lambda i: buffers[i].to_pybytes()),
        STEP + "SHA-256 of the segment bytes": step_pass(len(tables), lambda i: hashlib.sha256(blobs[i]).digest()),
        STEP + "segment.payload_bytes": step_pass(len(tables), lambda i: segment.payload_bytes(tables[i])),
        STEP + "min/max timestamp (pc.min_max)": step_pass(
            len(tables), lambda i: pc.min_max(tables[i].column("timestamp"))
        ),
        STEP + "segment.encode, whole call": step_pass(len(tables), encode),
    }
    for column in segment.SCHEMA.names:
        alone = [t.select([column]) for t in tables]
        options = CURRENT | {k: only(CURRENT[k], column) for k in ("write_statistics", "use_dictionary")}
        out[COLUMN + column] = encode_pass(alone, options)
    return out


STEP = "step: "
COLUMN = "column alone: "


def check_current_is_encode(table: pa.Table, topic: str) -> None:
    """The current variant must write the very bytes ``segment.encode`` does, or this measures something else."""
    offsets = table.column("offset")
    encoded = segment.encode(
        table.replace_schema_metadata(None),
        topic=topic,
        partition=table.column("partition")[0].as_py(),
        start_offset=offsets[0].as_py(),
        end_offset=offsets[-1].as_py() + 1,
        codec="zstd",
        level=1,
    )
    if write(table, CURRENT).to_pybytes() != encoded.data:
        raise RuntimeError("the current variant does not write the bytes segment.encode writes: CURRENT is stale")


def run_data_set(
    name: str, data: DataSet, segment_bytes: int, repeats: int, variants: Sequence[Variant]
) -> dict[str, Any]:
    t0 = time.monotonic()
    tables = [t.replace_schema_metadata(metadata(t, data.topic)) for t in segment_tables(data, segment_bytes)]
    payload = sum(segment.payload_bytes(t) for t in tables)
    if payload != data.payload_bytes:
        raise RuntimeError(f"{name}: tables hold {payload} payload bytes, expected {data.payload_bytes}")
    check_current_is_encode(tables[0], data.topic)
    rows = [t.num_rows for t in tables]
    print(
        f"{name}: {data.records:,} records, {payload / 1e6:,.1f} MB payload in {len(tables)} segments "
        f"({min(rows):,}-{max(rows):,} records) built in {time.monotonic() - t0:.0f} s",
        flush=True,
    )
    full = list(variants) == VARIANTS
    cpu, stored = interleaved(contestants(tables, data.topic, variants, full), repeats)
    print(f"  measured in {time.monotonic() - t0:.0f} s", flush=True)
    return {
        "data": data.__dict__ | {"payload_bytes": payload},
        "segments": len(tables),
        "segment_records": {"min": min(rows), "max": max(rows)},
        "variants": [
            {"name": v.name, "changes": v.changes, "cpu_s": cpu[v.name], "stored_bytes": stored[v.name]}
            for v in variants
        ],
        "steps": {k.removeprefix(STEP): cpu[k] for k in cpu if k.startswith(STEP)},
        "columns_alone": {
            k.removeprefix(COLUMN): {"cpu_s": cpu[k], "stored_bytes": stored[k]} for k in cpu if k.startswith(COLUMN)
        },
    }


def _range_pct(passes: list[float]) -> str:
    return f"{100 * (max(passes) - min(passes)) / min(passes):.0f}%" if min(passes) > 0 else "-"


def render(results: dict[str, dict[str, Any]]) -> str:
    """The variant table (per data set: CPU s/GB, stored size, ratios to current), then the CPU breakdown and the
    columns of the current encode."""
    lines = [
        "| data | variant | CPU s/GB | passes' range | size MB | payload / size | CPU vs current "
        "| CPU vs current, median of paired passes | size vs current |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for res in results.values():
        gb = res["data"]["payload_bytes"] / 1e9
        label = f"{res['data']['records']:,} x {res['data']['value_size']} B"
        current = res["variants"][0]
        cur_cpu, cur_size = min(current["cpu_s"]) / gb, current["stored_bytes"]["total"]
        for v in res["variants"]:
            cpu, size = min(v["cpu_s"]) / gb, v["stored_bytes"]["total"]
            # pass r of a variant ran right after pass r of the current settings: their ratio cancels slow phases
            paired = statistics.median(a / b for a, b in zip(v["cpu_s"], current["cpu_s"], strict=True))
            lines.append(
                f"| {label} | {v['name']} | {cpu:.2f} | {_range_pct(v['cpu_s'])} | {size / 1e6:,.1f} "
                f"| {res['data']['payload_bytes'] / size:.2f} | {cpu / cur_cpu:.2f} | {paired:.2f} "
                f"| {size / cur_size:.3f} |"
            )
        none = next((v for v in res["variants"] if v["name"] == NONE.name), None)
        if none is None or not res["steps"]:
            continue
        none_cpu = min(none["cpu_s"]) / gb
        steps = [
            ("Parquet encode without compression", none_cpu, none["cpu_s"]),
            ("zstd-1 (current minus no compression)", cur_cpu - none_cpu, None),
            *((step, min(cpu) / gb, cpu) for step, cpu in res["steps"].items()),
        ]
        for step, cpu, passes in steps:
            spread = _range_pct(passes) if passes else ""
            lines.append(
                f"| {label} | CPU of the current encode: {step} | {cpu:.2f} | {spread} | | | {cpu / cur_cpu:.2f} | |"
            )
    if not any(res["columns_alone"] for res in results.values()):
        return "\n".join(lines)
    lines += [
        "",
        "| data | column | stored KB (current) | share of the file | alone: CPU s/GB | alone: passes' range "
        "| the variant storing it smallest, if > 1% smaller |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for res in results.values():
        if not res["columns_alone"]:
            continue
        gb = res["data"]["payload_bytes"] / 1e9
        label = f"{res['data']['records']:,} x {res['data']['value_size']} B"
        current = res["variants"][0]["stored_bytes"]
        for column, alone in res["columns_alone"].items():
            best = min(res["variants"], key=lambda v: float(v["stored_bytes"][column]))
            smallest = best["stored_bytes"][column]
            better = (
                f"{best['name']}: {smallest / 1e3:,.1f} KB ({100 * (smallest / current[column] - 1):+.0f}%)"
                if smallest < 0.99 * current[column]
                else "current"
            )
            share = 100 * current[column] / current["total"]
            lines.append(
                f"| {label} | {column} | {current[column] / 1e3:,.1f} | {share:.2f}% "
                f"| {min(alone['cpu_s']) / gb:.2f} | {_range_pct(alone['cpu_s'])} | {better} |"
            )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "pyarrow": pa.__version__, "python": sys.version.split()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.parquet_choices", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000, help="1 KB records (100 B: 2.5x as many)")
    parser.add_argument("--segment-mib", type=float, default=SEGMENT_MIB, help="payload per segment")
    parser.add_argument("--repeats", type=int, default=3, help="passes per variant; the best counts")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument(
        "--only",
        help="comma-separated parts of variant names: measure those beside the current settings (no breakdown)",
    )
    args = parser.parse_args(argv)
    variants = VARIANTS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        variants = [VARIANTS[0], *(v for v in VARIANTS[1:] if any(w in v.name for w in wanted))]
    sets = data_sets(args.records, math.ceil(args.records * 2.5))
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "load_avg_at_start": os.getloadavg(),
        "segment_bytes": int(args.segment_mib * (1 << 20)),
        "repeats": args.repeats,
        "current": CURRENT,
    }
    meta["variants"] = [v.name for v in variants]
    results = {
        name: run_data_set(name, data, meta["segment_bytes"], args.repeats, variants) for name, data in sets.items()
    }
    meta["load_avg_at_end"] = os.getloadavg()
    table = render(results)
    print()
    print(
        f"pyarrow {pa.__version__} on {meta['machine']['cpu']} ({meta['machine']['cores']} cores), load average "
        f"{meta['load_avg_at_start'][0]:.1f} at start, {meta['load_avg_at_end'][0]:.1f} at end; segments of "
        f"{args.segment_mib:g} MiB payload; CPU: best of {args.repeats} passes, per GB (10^9 B) of payload"
    )
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
        print(f"\nraw results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
