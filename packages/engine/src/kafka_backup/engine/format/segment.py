"""The segment format: one Apache Parquet file per topic-partition offset range, one row per record.

Columns (documented in ``docs/format.md``):

=================  ==================================  ====================================================
column             Arrow type                          meaning
=================  ==================================  ====================================================
``topic``          ``string`` (dictionary-encoded)     source topic
``partition``      ``int32``                           source partition
``offset``         ``int64``                           source offset
``timestamp``      ``int64``                           record timestamp, ms since the epoch (-1: none)
``timestamp_type`` ``int8``                            0 not available, 1 CreateTime, 2 LogAppendTime
``key``            ``binary``, nullable                record key; null and empty are distinct
``value``          ``binary``, nullable                record value; null is a tombstone
``headers``        ``list<struct<key: string,          headers in order, duplicates kept; null values kept;
                   value: binary>>``, nullable         null when the record has no headers
=================  ==================================  ====================================================

The file describes itself: the Parquet key-value metadata holds ``kafka_backup.format`` (= :data:`FORMAT`),
``kafka_backup.format_version`` (``MAJOR.MINOR``; ``1`` in segments written before minors existed), topic, partition
and the offset range, so a reader can check a segment without any outside state. :func:`decode` refuses an unknown
major version (:mod:`kafka_backup.engine.format.envelope`). The codec is Parquet's own (zstd, lz4, snappy or none),
so any Parquet reader opens it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from kafka_backup.engine.errors import IntegrityError
from kafka_backup.engine.format.envelope import SEGMENT, check_version

FORMAT = SEGMENT.marker
FORMAT_VERSION = SEGMENT.version

HEADER_TYPE = pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.binary())]))
SCHEMA = pa.schema(
    [
        pa.field("topic", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        pa.field("timestamp_type", pa.int8(), nullable=False),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("headers", HEADER_TYPE),
    ]
)

_PARQUET_CODECS = {"zstd": "zstd", "lz4": "lz4", "snappy": "snappy", "none": "none"}


@dataclass(frozen=True)
class EncodedSegment:
    """A finished segment: its bytes and the facts the manifest records about it."""

    data: bytes
    sha256: str
    records: int
    uncompressed_bytes: int
    first_offset: int
    last_offset: int
    first_timestamp: int
    last_timestamp: int
    min_timestamp: int
    max_timestamp: int


def _bytes_of(column: pa.ChunkedArray | pa.Array) -> int:
    """Bytes of a binary or string column's values (a null has none), from its offsets: no compute kernel."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    return sum(c.view(pa.binary()).total_values_length for c in chunks)


def payload_bytes(table: pa.Table) -> int:
    """Uncompressed record bytes: keys + values + header keys and values (what Kafka calls the payload).

    Read from the columns' offsets, not summed by ``pyarrow.compute`` (whose import alone costs a one-shot backup
    0.1-0.3 s of start-up): a null key, value or header value holds no bytes."""
    total = _bytes_of(table.column("key")) + _bytes_of(table.column("value"))
    for chunk in table.column("headers").chunks:
        if not len(chunk):
            continue
        # the header pairs these records point at (ListArray.flatten() would load the compute kernels); a record
        # without headers (null) has none
        offsets = chunk.offsets
        first = offsets[0].as_py()
        pairs = chunk.values.slice(first, offsets[-1].as_py() - first)
        total += _bytes_of(pairs.field(0)) + _bytes_of(pairs.field(1))
    return int(total)


def encode(
    table: pa.Table,
    *,
    topic: str,
    partition: int,
    start_offset: int,
    end_offset: int,
    codec: str,
    level: int | None,
) -> EncodedSegment:
    """Write ``table`` as one Parquet file (one row group) and checksum it."""
    metadata = {
        "kafka_backup.format": FORMAT,
        "kafka_backup.format_version": FORMAT_VERSION,
        "kafka_backup.topic": topic,
        "kafka_backup.partition": str(partition),
        "kafka_backup.start_offset": str(start_offset),
        "kafka_backup.end_offset": str(end_offset),
        "kafka_backup.codec": codec,
    }
    # an Arrow buffer, not io.BytesIO: the writer never calls back into Python (nor takes the GIL) per page, so an
    # encode on a worker thread does not contend with the consuming thread
    sink = pa.BufferOutputStream()
    compression = _PARQUET_CODECS[codec]
    pq.write_table(
        table.replace_schema_metadata(metadata),
        sink,
        compression=compression,
        compression_level=level if codec == "zstd" else None,
        row_group_size=max(1, table.num_rows),
        write_statistics=["offset", "timestamp"],
        use_dictionary=["topic"],
    )
    buffer = sink.getvalue()
    data = buffer.to_pybytes()
    offsets = table.column("offset")
    ts = table.column("timestamp")
    # the timestamp range from the statistics just written into the footer (no compute kernel, see payload_bytes)
    stats = pq.read_metadata(pa.BufferReader(buffer)).row_group(0).column(SCHEMA.get_field_index("timestamp"))
    min_max = stats.statistics
    assert min_max is not None
    assert min_max.has_min_max
    return EncodedSegment(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        records=table.num_rows,
        uncompressed_bytes=payload_bytes(table),
        first_offset=offsets[0].as_py(),
        last_offset=offsets[-1].as_py(),
        first_timestamp=ts[0].as_py(),
        last_timestamp=ts[-1].as_py(),
        min_timestamp=int(min_max.min),
        max_timestamp=int(min_max.max),
    )


def decode(data: bytes, *, expected_sha256: str | None = None, name: str = "segment") -> pa.Table:
    """Read a segment back, verifying its checksum first when one is given."""
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise IntegrityError(f"{name}: SHA-256 mismatch (manifest {expected_sha256[:16]}…, object {actual[:16]}…)")
    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise IntegrityError(f"{name}: not a readable Parquet segment ({exc})") from None
    meta = table.schema.metadata or {}
    if meta.get(b"kafka_backup.format") != FORMAT.encode():
        raise IntegrityError(f"{name}: not a kafka-backup segment (format marker missing)")
    version = meta.get(b"kafka_backup.format_version")
    check_version(SEGMENT, None if version is None else version.decode(errors="replace"), name)
    return table


ReadRange = Callable[[int, int], bytes]
"""Bytes ``[start, end)`` of one stored object (a ranged get)."""


class _RangedFile(io.RawIOBase):
    """A read-only, seekable file over ranged gets: Parquet reads the footer, then only the column chunks asked for."""

    def __init__(self, read_range: ReadRange, size: int) -> None:
        super().__init__()
        self._read_range = read_range
        self._size = size
        self._pos = 0
        self.gets = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        end = min(self._size, self._pos + len(buffer))
        if end <= self._pos:
            return 0
        data = self._read_range(self._pos, end)
        self.gets += 1
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        self._pos += n
        return n


def read_columns(read_range: ReadRange, size: int, columns: Sequence[str], *, name: str = "segment") -> pa.Table:
    """Only ``columns`` of a stored segment, by ranged gets of its footer and of those column chunks (no checksum:
    the whole object is not read). For estimates; a restore reads and verifies whole segments."""
    try:
        return pq.ParquetFile(_RangedFile(read_range, size)).read(columns=list(columns))
    except (pa.ArrowInvalid, OSError) as exc:
        raise IntegrityError(f"{name}: not a readable Parquet segment ({exc})") from None


def iter_batches(table: pa.Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=batch_rows)
