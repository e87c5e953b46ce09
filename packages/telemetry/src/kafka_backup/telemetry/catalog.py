"""Every metric kafka-backup exposes, declared once, and ``Metrics``: the instruments the engine records through.

Naming: the OpenTelemetry instrument name is the exposed Prometheus family name (minus ``_total`` on counters), and
the unit is chosen so the Prometheus exporter adds no suffix of its own. The exporter appends the mapped unit unless
the name already ends with it (``s`` -> ``_seconds``, ``By`` -> ``_bytes``, ``%`` -> ``_percent``) and ``_total`` to
counters; curly-brace annotations (``{record}``) and ``1`` add nothing. So one name is seen everywhere: in a scrape,
in OTLP, and after an OpenTelemetry Collector re-exposes OTLP as Prometheus. ``tests/telemetry/test_catalog.py``
checks every family against a real ``PrometheusMetricReader`` scrape.

Labels: all label values are strings; ``partition`` is the decimal partition number (``"3"``). Where the PRD and the
reference tool disagree, the PRD name is used and the label sets are unioned (see ``docs/metrics.md``, generated from
this module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
    Histogram,
    Meter,
    MeterProvider,
    ObservableGauge,
    Observation,
)
from opentelemetry.metrics import _Gauge as Gauge

from kafka_backup.telemetry._version import PACKAGE_VERSION
from kafka_backup.telemetry.observed import LagTracker, ObservedValues

__all__ = [
    "CATALOG",
    "METER_NAME",
    "Family",
    "Group",
    "Kind",
    "Metrics",
    "family",
]

_Callback = Callable[[CallbackOptions], Iterable[Observation]]

METER_NAME = "kafka_backup"
"""Instrumentation scope of every kafka-backup instrument."""


class Kind(StrEnum):
    """How a family is recorded: by the engine directly (sync) or read from state at collection time (observable)."""

    COUNTER = "counter"
    HISTOGRAM = "histogram"
    GAUGE = "gauge"
    OBSERVABLE_GAUGE = "observable_gauge"
    OBSERVABLE_COUNTER = "observable_counter"

    @property
    def prometheus_type(self) -> str:
        """The ``# TYPE`` the family has in a scrape."""
        return {
            Kind.COUNTER: "counter",
            Kind.OBSERVABLE_COUNTER: "counter",
            Kind.HISTOGRAM: "histogram",
            Kind.GAUGE: "gauge",
            Kind.OBSERVABLE_GAUGE: "gauge",
        }[self]


class Group(StrEnum):
    """Sections of the metrics reference."""

    LAG = "Consumer lag"
    THROUGHPUT = "Throughput"
    DURATION = "Operation duration"
    STORAGE = "Storage I/O"
    COMPRESSION = "Compression"
    ERRORS = "Errors and health"
    RESTORE = "Restore"
    OFFSET_RESET = "Offset reset"
    DRILL = "Restore drills"
    CLIENT = "Kafka client (librdkafka statistics)"


@dataclass(frozen=True)
class Family:
    """One exposed metric family.

    ``name`` is the family name in a Prometheus scrape (counters include ``_total``; histograms add
    ``_bucket``/``_sum``/``_count`` to it). ``unit`` is the OpenTelemetry unit (UCUM). ``source`` says which spec
    asked for it: ``prd``, ``reference``, ``prd+reference``, ``drill``, ``client`` or ``project``.
    """

    name: str
    kind: Kind
    unit: str
    description: str
    labels: tuple[str, ...]
    group: Group
    source: str
    example: str
    buckets: tuple[float, ...] = ()

    @property
    def instrument(self) -> str:
        """The OpenTelemetry instrument name (OTel counters carry no ``_total``; the exporters add it)."""
        if self.kind in (Kind.COUNTER, Kind.OBSERVABLE_COUNTER):
            return self.name.removesuffix("_total")
        return self.name

    @property
    def attribute(self) -> str:
        """The ``Metrics`` attribute holding this family's instrument."""
        return self.name.removeprefix("kafka_")


_DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_STORAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_OFFSET_RESET_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_OFFSET_RESET_PARTITION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_DRILL_BUCKETS = (60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3840.0, 7680.0)

_PARTITION = ("backup_id", "topic", "partition")

# --- consumer lag (observable: partitions move between consumers) ------------------------------------------------
BACKUP_LAG_RECORDS = Family(
    "kafka_backup_lag_records",
    Kind.OBSERVABLE_GAUGE,
    "{record}",
    "Records the backup consumer is behind the partition's high watermark.",
    _PARTITION,
    Group.LAG,
    "prd+reference",
    'topk(5, kafka_backup_lag_records{backup_id="daily"})',
)
BACKUP_LAG_BYTES = Family(
    "kafka_backup_lag_bytes",
    Kind.OBSERVABLE_GAUGE,
    "By",
    "Approximate bytes behind the high watermark (records lag times the average record size).",
    _PARTITION,
    Group.LAG,
    "prd",
    "sum by (backup_id) (kafka_backup_lag_bytes) > 1e9",
)
BACKUP_LAG_SECONDS = Family(
    "kafka_backup_lag_seconds",
    Kind.OBSERVABLE_GAUGE,
    "s",
    "Age of the newest record backed up while the partition is behind, from record timestamps (0 when caught up).",
    _PARTITION,
    Group.LAG,
    "prd",
    "max by (backup_id, topic) (kafka_backup_lag_seconds) > 3600",
)
BACKUP_LAG_RECORDS_MAX = Family(
    "kafka_backup_lag_records_max",
    Kind.OBSERVABLE_GAUGE,
    "{record}",
    "Largest records lag across the backup's partitions.",
    ("backup_id",),
    Group.LAG,
    "prd",
    "kafka_backup_lag_records_max > 500000",
)

# --- throughput ------------------------------------------------------------------------------------------------------
BACKUP_THROUGHPUT_RECORDS_PER_SEC = Family(
    "kafka_backup_throughput_records_per_sec",
    Kind.GAUGE,
    "{record/s}",
    "Records consumed per second, averaged over the engine's reporting window.",
    ("backup_id", "topic"),
    Group.THROUGHPUT,
    "prd+reference",
    "sum by (backup_id) (kafka_backup_throughput_records_per_sec)",
)
BACKUP_THROUGHPUT_BYTES_PER_SEC = Family(
    "kafka_backup_throughput_bytes_per_sec",
    Kind.GAUGE,
    "{byte/s}",
    "Record payload bytes (key + value + headers) consumed per second.",
    ("backup_id", "topic"),
    Group.THROUGHPUT,
    "prd+reference",
    "sum by (backup_id) (kafka_backup_throughput_bytes_per_sec)",
)
BACKUP_FETCH_RATE = Family(
    "kafka_backup_fetch_rate",
    Kind.GAUGE,
    "{fetch/s}",
    "Consumer poll calls per second.",
    ("backup_id",),
    Group.THROUGHPUT,
    "prd",
    "kafka_backup_fetch_rate < 1",
)
BACKUP_RECORDS_TOTAL = Family(
    "kafka_backup_records_total",
    Kind.COUNTER,
    "{record}",
    "Records backed up (stored in a committed segment).",
    _PARTITION,
    Group.THROUGHPUT,
    "prd+reference",
    "sum by (backup_id) (rate(kafka_backup_records_total[5m]))",
)
BACKUP_BYTES_TOTAL = Family(
    "kafka_backup_bytes_total",
    Kind.COUNTER,
    "By",
    "Record payload bytes backed up, before compression.",
    _PARTITION,
    Group.THROUGHPUT,
    "prd+reference",
    "sum by (backup_id) (rate(kafka_backup_bytes_total[5m]))",
)
BACKUP_SEGMENTS_TOTAL = Family(
    "kafka_backup_segments_total",
    Kind.COUNTER,
    "{segment}",
    "Segment files written to storage.",
    _PARTITION,
    Group.THROUGHPUT,
    "reference",
    "sum by (backup_id, topic) (increase(kafka_backup_segments_total[1h]))",
)

# --- operation duration ----------------------------------------------------------------------------------------------
BACKUP_DURATION_SECONDS = Family(
    "kafka_backup_duration_seconds",
    Kind.HISTOGRAM,
    "s",
    "Backup run duration; status is success, failure or stopped (a snapshot stopped by SIGTERM/SIGINT before its end).",
    ("backup_id", "status"),
    Group.DURATION,
    "prd+reference",
    "histogram_quantile(0.95, sum by (le) (rate(kafka_backup_duration_seconds_bucket[1h])))",
    _DURATION_BUCKETS,
)
RESTORE_DURATION_SECONDS = Family(
    "kafka_restore_duration_seconds",
    Kind.HISTOGRAM,
    "s",
    "Restore run duration; status is success or failure.",
    ("backup_id", "status"),
    Group.DURATION,
    "prd+reference",
    "histogram_quantile(0.95, sum by (le) (rate(kafka_restore_duration_seconds_bucket[1h])))",
    _DURATION_BUCKETS,
)
OFFSET_RESET_DURATION_SECONDS = Family(
    "kafka_offset_reset_duration_seconds",
    Kind.HISTOGRAM,
    "s",
    "Offset reset duration per consumer group; status is success or failure.",
    ("consumer_group", "status"),
    Group.DURATION,
    "prd+reference",
    "histogram_quantile(0.95, sum by (le, consumer_group) (rate(kafka_offset_reset_duration_seconds_bucket[1h])))",
    _OFFSET_RESET_BUCKETS,
)
BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS = Family(
    "kafka_backup_last_success_timestamp_seconds",
    Kind.GAUGE,
    "s",
    "Unix time at which the backup last completed successfully (freshness).",
    ("backup_id",),
    Group.DURATION,
    "project",
    "time() - kafka_backup_last_success_timestamp_seconds > 86400",
)

# --- storage I/O -----------------------------------------------------------------------------------------------------
BACKUP_STORAGE_WRITE_LATENCY_SECONDS = Family(
    "kafka_backup_storage_write_latency_seconds",
    Kind.HISTOGRAM,
    "s",
    "Storage write latency; backend is filesystem, s3, gcs or azure; operation is segment, manifest or checkpoint.",
    ("backend", "operation"),
    Group.STORAGE,
    "prd+reference",
    "histogram_quantile(0.99, sum by (le, backend) "
    '(rate(kafka_backup_storage_write_latency_seconds_bucket{operation="segment"}[5m])))',
    _STORAGE_BUCKETS,
)
BACKUP_STORAGE_READ_LATENCY_SECONDS = Family(
    "kafka_backup_storage_read_latency_seconds",
    Kind.HISTOGRAM,
    "s",
    "Storage read latency (restore, validate); operation is segment, manifest or checkpoint.",
    ("backend", "operation"),
    Group.STORAGE,
    "prd",
    "histogram_quantile(0.99, sum by (le, backend) (rate(kafka_backup_storage_read_latency_seconds_bucket[5m])))",
    _STORAGE_BUCKETS,
)
BACKUP_STORAGE_WRITE_BYTES_TOTAL = Family(
    "kafka_backup_storage_write_bytes_total",
    Kind.COUNTER,
    "By",
    "Bytes written to storage (segments, manifests, checkpoints).",
    ("backend", "backup_id"),
    Group.STORAGE,
    "prd+reference",
    'rate(kafka_backup_storage_write_bytes_total{backend="s3"}[1m])',
)
BACKUP_STORAGE_READ_BYTES_TOTAL = Family(
    "kafka_backup_storage_read_bytes_total",
    Kind.COUNTER,
    "By",
    "Bytes read from storage.",
    ("backend", "backup_id"),
    Group.STORAGE,
    "prd+reference",
    "rate(kafka_backup_storage_read_bytes_total[1m])",
)
BACKUP_STORAGE_ERRORS_TOTAL = Family(
    "kafka_backup_storage_errors_total",
    Kind.COUNTER,
    "{error}",
    "Failed storage operations; error_type is timeout, auth, not_found, quota or unknown.",
    ("backend", "error_type"),
    Group.STORAGE,
    "prd",
    "sum by (backend, error_type) (rate(kafka_backup_storage_errors_total[5m]))",
)

# --- compression -----------------------------------------------------------------------------------------------------
BACKUP_COMPRESSION_RATIO = Family(
    "kafka_backup_compression_ratio",
    Kind.GAUGE,
    "1",
    "Uncompressed over compressed size of the backup so far (4.5 means 4.5x smaller); algorithm is zstd, lz4, "
    "snappy, gzip or none.",
    ("algorithm", "backup_id"),
    Group.COMPRESSION,
    "prd+reference",
    "kafka_backup_compression_ratio < 2",
)
BACKUP_COMPRESSED_BYTES_TOTAL = Family(
    "kafka_backup_compressed_bytes_total",
    Kind.COUNTER,
    "By",
    "Segment bytes after compression.",
    ("algorithm", "backup_id", "topic"),
    Group.COMPRESSION,
    "prd+reference",
    "sum by (backup_id) (rate(kafka_backup_compressed_bytes_total[5m]))",
)
BACKUP_UNCOMPRESSED_BYTES_TOTAL = Family(
    "kafka_backup_uncompressed_bytes_total",
    Kind.COUNTER,
    "By",
    "Segment bytes before compression.",
    ("algorithm", "backup_id", "topic"),
    Group.COMPRESSION,
    "prd",
    "sum by (backup_id) (rate(kafka_backup_uncompressed_bytes_total[1h])) / "
    "sum by (backup_id) (rate(kafka_backup_compressed_bytes_total[1h]))",
)

# --- errors and health -----------------------------------------------------------------------------------------------
BACKUP_ERRORS_TOTAL = Family(
    "kafka_backup_errors_total",
    Kind.COUNTER,
    "{error}",
    "Errors by stable error code (error_type, e.g. KAFKA_CONNECTION_FAILED); operation is backup, restore, validate "
    "or offset_reset; backup_id is empty when no backup is involved.",
    ("backup_id", "operation", "error_type"),
    Group.ERRORS,
    "prd+reference",
    'increase(kafka_backup_errors_total{operation="backup"}[1h]) > 0',
)
BACKUP_RETRIES_TOTAL = Family(
    "kafka_backup_retries_total",
    Kind.COUNTER,
    "{retry}",
    "Retry attempts. operation names what was retried: storage_put, storage_get, storage_stat, storage_list, "
    "storage_delete; Kafka admin calls (metadata, list_offsets, describe_topics, describe_cluster, group_offsets, "
    "create_topics, describe_groups, alter_group_offsets); fetch and commit (the backup's consumer) or produce (the "
    "restore's producer) during an outage. reason is the error retried: the storage error type, or librdkafka's "
    "error name (_TRANSPORT, FENCED_LEADER_EPOCH, ...); producer_stuck when the restore replaced a producer that "
    "got no delivery report for 30 s.",
    ("backup_id", "operation", "reason"),
    Group.ERRORS,
    "prd+reference",
    "sum by (operation, reason) (rate(kafka_backup_retries_total[5m]))",
)
BACKUP_LAST_SUCCESSFUL_COMMIT = Family(
    "kafka_backup_last_successful_commit",
    Kind.OBSERVABLE_GAUGE,
    "{timestamp}",
    "Unix time in seconds of the partition's last committed segment (manifest stored, offset committed).",
    _PARTITION,
    Group.ERRORS,
    "prd",
    "time() - kafka_backup_last_successful_commit > 900",
)
BACKUP_CONSUMER_REBALANCE_TOTAL = Family(
    "kafka_backup_consumer_rebalance_total",
    Kind.COUNTER,
    "{rebalance}",
    "Consumer group rebalances seen by the backup (partitions assigned or revoked).",
    ("backup_id",),
    Group.ERRORS,
    "prd",
    "increase(kafka_backup_consumer_rebalance_total[1h]) > 10",
)

# --- restore ---------------------------------------------------------------------------------------------------------
_RESTORE = ("restore_id", "backup_id")
RESTORE_PROGRESS_PERCENT = Family(
    "kafka_restore_progress_percent",
    Kind.GAUGE,
    "%",
    "Restore progress, records restored over records in the backup selection (0-100).",
    _RESTORE,
    Group.RESTORE,
    "prd+reference",
    "kafka_restore_progress_percent < 100",
)
RESTORE_ETA_SECONDS = Family(
    "kafka_restore_eta_seconds",
    Kind.GAUGE,
    "s",
    "Estimated seconds until the restore completes (remaining records / current throughput).",
    _RESTORE,
    Group.RESTORE,
    "prd+reference",
    "max by (restore_id) (kafka_restore_eta_seconds)",
)
RESTORE_THROUGHPUT_RECORDS_PER_SEC = Family(
    "kafka_restore_throughput_records_per_sec",
    Kind.GAUGE,
    "{record/s}",
    "Records written to the target cluster per second.",
    _RESTORE,
    Group.RESTORE,
    "prd+reference",
    "kafka_restore_throughput_records_per_sec",
)
RESTORE_RECORDS_TOTAL = Family(
    "kafka_restore_records_total",
    Kind.COUNTER,
    "{record}",
    "Records restored (acknowledged by the target cluster); topic and partition are the target's.",
    ("restore_id", "backup_id", "topic", "partition"),
    Group.RESTORE,
    "prd+reference",
    "sum by (restore_id) (rate(kafka_restore_records_total[1m]))",
)
RESTORE_BYTES_TOTAL = Family(
    "kafka_restore_bytes_total",
    Kind.COUNTER,
    "By",
    "Record payload bytes restored; topic is the target topic.",
    ("restore_id", "backup_id", "topic"),
    Group.RESTORE,
    "reference",
    "sum by (restore_id) (rate(kafka_restore_bytes_total[1m]))",
)
RESTORE_LEFT_OUT_TOTAL = Family(
    "kafka_restore_left_out_total",
    Kind.COUNTER,
    "{shortfall}",
    "Shortfalls of an incomplete backup that a partial restore (allow_partial) left out, once per run; topic and "
    "partition are the source's (empty for the whole backup), reason is the shortfall kind (manifest_missing, "
    "not_complete, short_of_snapshot).",
    ("restore_id", "backup_id", "topic", "partition", "reason"),
    Group.RESTORE,
    "project",
    "sum by (backup_id, reason) (increase(kafka_restore_left_out_total[1d])) > 0",
)

# --- offset reset ----------------------------------------------------------------------------------------------------
OFFSET_RESET_PARTITIONS_TOTAL = Family(
    "kafka_offset_reset_partitions_total",
    Kind.COUNTER,
    "{partition}",
    "Partitions whose consumer-group offsets were reset; status is success or failure.",
    ("consumer_group", "status"),
    Group.OFFSET_RESET,
    "reference",
    'increase(kafka_offset_reset_partitions_total{status="failure"}[1h]) > 0',
)
OFFSET_RESET_LATENCY_SECONDS = Family(
    "kafka_offset_reset_latency_seconds",
    Kind.HISTOGRAM,
    "s",
    "Per-partition offset reset latency (p50/p90/p99 via histogram_quantile).",
    ("consumer_group",),
    Group.OFFSET_RESET,
    "reference",
    "histogram_quantile(0.99, sum by (le, consumer_group) (rate(kafka_offset_reset_latency_seconds_bucket[5m])))",
    _OFFSET_RESET_PARTITION_BUCKETS,
)

# --- restore drills --------------------------------------------------------------------------------------------------
RESTORE_DRILL_RUNS_TOTAL = Family(
    "kafka_restore_drill_runs_total",
    Kind.COUNTER,
    "{run}",
    "Completed restore drills; result is pass, fail or partial.",
    ("drill", "result"),
    Group.DRILL,
    "drill",
    'sum(increase(kafka_restore_drill_runs_total{result="pass"}[7d])) '
    "/ sum(increase(kafka_restore_drill_runs_total[7d]))",
)
RESTORE_DRILL_SCORE = Family(
    "kafka_restore_drill_score",
    Kind.GAUGE,
    "{score}",
    "Confidence score (0-100) of the drill's most recent run.",
    ("drill",),
    Group.DRILL,
    "drill",
    "kafka_restore_drill_score < 70",
)
RESTORE_DRILL_RTO_SECONDS = Family(
    "kafka_restore_drill_rto_seconds",
    Kind.GAUGE,
    "s",
    "Measured recovery time (restore duration) of the drill's most recent run.",
    ("drill",),
    Group.DRILL,
    "drill",
    "kafka_restore_drill_rto_seconds > 900",
)
RESTORE_DRILL_DURATION_SECONDS = Family(
    "kafka_restore_drill_duration_seconds",
    Kind.HISTOGRAM,
    "s",
    "Full drill duration, from restore start to the last verification step.",
    ("drill",),
    Group.DRILL,
    "drill",
    "histogram_quantile(0.95, sum by (drill, le) (rate(kafka_restore_drill_duration_seconds_bucket[24h])))",
    _DRILL_BUCKETS,
)
RESTORE_DRILL_BACKUP_AGE_SECONDS = Family(
    "kafka_restore_drill_backup_age_seconds",
    Kind.GAUGE,
    "s",
    "Age of the backup the drill restored, as of its most recent run.",
    ("drill",),
    Group.DRILL,
    "drill",
    "avg(kafka_restore_drill_backup_age_seconds) / 3600",
)

# --- Kafka client, from librdkafka statistics (observable: snapshots replace each other) -----------------------------
_CLIENT = ("client",)
_BROKER = ("client", "broker")
CLIENT_BROKER_RTT_SECONDS = Family(
    "kafka_backup_client_broker_rtt_seconds",
    Kind.OBSERVABLE_GAUGE,
    "s",
    "Broker round-trip time over librdkafka's statistics window; stat is avg, p50, p95, p99 or max. For a consumer "
    "it includes the fetch long-poll wait.",
    ("client", "broker", "stat"),
    Group.CLIENT,
    "client",
    'max by (broker) (kafka_backup_client_broker_rtt_seconds{stat="p99"})',
)
CLIENT_BROKER_CONNECTS_TOTAL = Family(
    "kafka_backup_client_broker_connects_total",
    Kind.OBSERVABLE_COUNTER,
    "{connection}",
    "Connection attempts to the broker, including successful and failed ones.",
    _BROKER,
    Group.CLIENT,
    "client",
    "sum by (broker) (increase(kafka_backup_client_broker_connects_total[15m]))",
)
CLIENT_BROKER_DISCONNECTS_TOTAL = Family(
    "kafka_backup_client_broker_disconnects_total",
    Kind.OBSERVABLE_COUNTER,
    "{disconnection}",
    "Disconnections from the broker (idle connections closed by cloud brokers show up here).",
    _BROKER,
    Group.CLIENT,
    "client",
    "sum by (broker) (increase(kafka_backup_client_broker_disconnects_total[15m])) > 5",
)
CLIENT_BROKER_REQUEST_TIMEOUTS_TOTAL = Family(
    "kafka_backup_client_broker_request_timeouts_total",
    Kind.OBSERVABLE_COUNTER,
    "{timeout}",
    "Requests to the broker that timed out.",
    _BROKER,
    Group.CLIENT,
    "client",
    "sum by (broker) (rate(kafka_backup_client_broker_request_timeouts_total[5m])) > 0",
)
CLIENT_BROKER_ERRORS_TOTAL = Family(
    "kafka_backup_client_broker_errors_total",
    Kind.OBSERVABLE_COUNTER,
    "{error}",
    "Transmission (direction=tx) and receive (direction=rx) errors on the broker connection.",
    ("client", "broker", "direction"),
    Group.CLIENT,
    "client",
    "sum by (broker, direction) (rate(kafka_backup_client_broker_errors_total[5m]))",
)
CLIENT_BROKER_REQUESTS_TOTAL = Family(
    "kafka_backup_client_broker_requests_total",
    Kind.OBSERVABLE_COUNTER,
    "{request}",
    "Requests sent to the broker by request type (Fetch for consumer fetches, Produce for producer batches).",
    ("client", "broker", "request"),
    Group.CLIENT,
    "client",
    'sum by (client) (rate(kafka_backup_client_broker_requests_total{request="Fetch"}[1m]))',
)
CLIENT_REBALANCES_TOTAL = Family(
    "kafka_backup_client_rebalances_total",
    Kind.OBSERVABLE_COUNTER,
    "{rebalance}",
    "Consumer group rebalances of the client (librdkafka cgrp.rebalance_cnt).",
    _CLIENT,
    Group.CLIENT,
    "client",
    "increase(kafka_backup_client_rebalances_total[1h])",
)
CLIENT_ASSIGNED_PARTITIONS = Family(
    "kafka_backup_client_assigned_partitions",
    Kind.OBSERVABLE_GAUGE,
    "{partition}",
    "Partitions currently assigned to the consumer.",
    _CLIENT,
    Group.CLIENT,
    "client",
    "sum(kafka_backup_client_assigned_partitions)",
)
CLIENT_CONSUMER_LAG_RECORDS = Family(
    "kafka_backup_client_consumer_lag_records",
    Kind.OBSERVABLE_GAUGE,
    "{record}",
    "Consumer lag librdkafka reports for each actively fetched partition (high watermark minus position).",
    ("client", "topic", "partition"),
    Group.CLIENT,
    "client",
    "max by (topic) (kafka_backup_client_consumer_lag_records)",
)
CLIENT_CONSUMED_RECORDS_TOTAL = Family(
    "kafka_backup_client_consumed_records_total",
    Kind.OBSERVABLE_COUNTER,
    "{record}",
    "Records the consumer received from brokers.",
    _CLIENT,
    Group.CLIENT,
    "client",
    "sum by (client) (rate(kafka_backup_client_consumed_records_total[1m]))",
)
CLIENT_CONSUMED_BYTES_TOTAL = Family(
    "kafka_backup_client_consumed_bytes_total",
    Kind.OBSERVABLE_COUNTER,
    "By",
    "Record bytes the consumer received from brokers.",
    _CLIENT,
    Group.CLIENT,
    "client",
    "sum by (client) (rate(kafka_backup_client_consumed_bytes_total[1m]))",
)
CLIENT_PRODUCED_RECORDS_TOTAL = Family(
    "kafka_backup_client_produced_records_total",
    Kind.OBSERVABLE_COUNTER,
    "{record}",
    "Records the producer sent to brokers.",
    _CLIENT,
    Group.CLIENT,
    "client",
    "sum by (client) (rate(kafka_backup_client_produced_records_total[1m]))",
)
CLIENT_PRODUCED_BYTES_TOTAL = Family(
    "kafka_backup_client_produced_bytes_total",
    Kind.OBSERVABLE_COUNTER,
    "By",
    "Record bytes the producer sent to brokers.",
    _CLIENT,
    Group.CLIENT,
    "client",
    "sum by (client) (rate(kafka_backup_client_produced_bytes_total[1m]))",
)
CLIENT_QUEUED_RECORDS = Family(
    "kafka_backup_client_queued_records",
    Kind.OBSERVABLE_GAUGE,
    "{record}",
    "Records waiting in the producer queue (not yet acknowledged).",
    _CLIENT,
    Group.CLIENT,
    "client",
    "max by (client) (kafka_backup_client_queued_records)",
)

CATALOG: tuple[Family, ...] = tuple(value for value in list(globals().values()) if isinstance(value, Family))
"""Every family, in declaration order."""

_BY_NAME = {f.name: f for f in CATALOG}


def family(name: str) -> Family:
    """The family exposed as ``name`` (raises KeyError for unknown names)."""
    return _BY_NAME[name]


class Metrics:
    """The instruments of every family in ``CATALOG``, created on one meter of ``meter_provider``.

    Construct it once per process (the CLI does, after ``setup()``) and hand it to the engine; tests construct it on
    their own provider. Attribute names are the family names without the ``kafka_`` prefix, so
    ``metrics.backup_records_total`` is exposed as ``kafka_backup_records_total``. Record once per batch or segment.

    Synchronous instruments take an attribute mapping with exactly the family's labels (values are strings)::

        metrics.backup_records_total.add(500, {"backup_id": "daily", "topic": "orders", "partition": "3"})
        metrics.backup_storage_write_latency_seconds.record(0.12, {"backend": "s3", "operation": "segment"})
        metrics.restore_progress_percent.set(42.0, {"restore_id": "r1", "backup_id": "daily"})

    Observable families are read from state at collection time:

    - ``lag`` (``LagTracker``) feeds ``backup_lag_records``, ``backup_lag_bytes``, ``backup_lag_seconds`` and
      ``backup_lag_records_max``;
    - ``backup_last_successful_commit`` is an ``ObservedValues`` (``.set(ts, attrs)``, ``.forget(attrs)``);
    - the ``client_*`` families are ``ObservedValues`` fed from librdkafka statistics (see ``client_stats``).
    """

    # One line per family keeps every attribute greppable next to its spec; splitting it would only hide the list.
    def __init__(self, meter_provider: MeterProvider | None = None) -> None:  # noqa: PLR0915
        provider = meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
        self.meter: Meter = provider.get_meter(METER_NAME, PACKAGE_VERSION)
        self.lag = LagTracker()

        # consumer lag
        self.backup_lag_records = self._observable_gauge(BACKUP_LAG_RECORDS, self.lag.observe_records)
        self.backup_lag_bytes = self._observable_gauge(BACKUP_LAG_BYTES, self.lag.observe_bytes)
        self.backup_lag_seconds = self._observable_gauge(BACKUP_LAG_SECONDS, self.lag.observe_seconds)
        self.backup_lag_records_max = self._observable_gauge(BACKUP_LAG_RECORDS_MAX, self.lag.observe_records_max)

        # throughput
        self.backup_throughput_records_per_sec = self._gauge(BACKUP_THROUGHPUT_RECORDS_PER_SEC)
        self.backup_throughput_bytes_per_sec = self._gauge(BACKUP_THROUGHPUT_BYTES_PER_SEC)
        self.backup_fetch_rate = self._gauge(BACKUP_FETCH_RATE)
        self.backup_records_total = self._counter(BACKUP_RECORDS_TOTAL)
        self.backup_bytes_total = self._counter(BACKUP_BYTES_TOTAL)
        self.backup_segments_total = self._counter(BACKUP_SEGMENTS_TOTAL)

        # operation duration
        self.backup_duration_seconds = self._histogram(BACKUP_DURATION_SECONDS)
        self.restore_duration_seconds = self._histogram(RESTORE_DURATION_SECONDS)
        self.offset_reset_duration_seconds = self._histogram(OFFSET_RESET_DURATION_SECONDS)
        self.backup_last_success_timestamp_seconds = self._gauge(BACKUP_LAST_SUCCESS_TIMESTAMP_SECONDS)

        # storage I/O
        self.backup_storage_write_latency_seconds = self._histogram(BACKUP_STORAGE_WRITE_LATENCY_SECONDS)
        self.backup_storage_read_latency_seconds = self._histogram(BACKUP_STORAGE_READ_LATENCY_SECONDS)
        self.backup_storage_write_bytes_total = self._counter(BACKUP_STORAGE_WRITE_BYTES_TOTAL)
        self.backup_storage_read_bytes_total = self._counter(BACKUP_STORAGE_READ_BYTES_TOTAL)
        self.backup_storage_errors_total = self._counter(BACKUP_STORAGE_ERRORS_TOTAL)

        # compression
        self.backup_compression_ratio = self._gauge(BACKUP_COMPRESSION_RATIO)
        self.backup_compressed_bytes_total = self._counter(BACKUP_COMPRESSED_BYTES_TOTAL)
        self.backup_uncompressed_bytes_total = self._counter(BACKUP_UNCOMPRESSED_BYTES_TOTAL)

        # errors and health
        self.backup_errors_total = self._counter(BACKUP_ERRORS_TOTAL)
        self.backup_retries_total = self._counter(BACKUP_RETRIES_TOTAL)
        self.backup_last_successful_commit = self._observed_gauge(BACKUP_LAST_SUCCESSFUL_COMMIT)
        self.backup_consumer_rebalance_total = self._counter(BACKUP_CONSUMER_REBALANCE_TOTAL)

        # restore
        self.restore_progress_percent = self._gauge(RESTORE_PROGRESS_PERCENT)
        self.restore_eta_seconds = self._gauge(RESTORE_ETA_SECONDS)
        self.restore_throughput_records_per_sec = self._gauge(RESTORE_THROUGHPUT_RECORDS_PER_SEC)
        self.restore_records_total = self._counter(RESTORE_RECORDS_TOTAL)
        self.restore_bytes_total = self._counter(RESTORE_BYTES_TOTAL)
        self.restore_left_out_total = self._counter(RESTORE_LEFT_OUT_TOTAL)

        # offset reset
        self.offset_reset_partitions_total = self._counter(OFFSET_RESET_PARTITIONS_TOTAL)
        self.offset_reset_latency_seconds = self._histogram(OFFSET_RESET_LATENCY_SECONDS)

        # restore drills
        self.restore_drill_runs_total = self._counter(RESTORE_DRILL_RUNS_TOTAL)
        self.restore_drill_score = self._gauge(RESTORE_DRILL_SCORE)
        self.restore_drill_rto_seconds = self._gauge(RESTORE_DRILL_RTO_SECONDS)
        self.restore_drill_duration_seconds = self._histogram(RESTORE_DRILL_DURATION_SECONDS)
        self.restore_drill_backup_age_seconds = self._gauge(RESTORE_DRILL_BACKUP_AGE_SECONDS)

        # Kafka client statistics
        self.backup_client_broker_rtt_seconds = self._observed_gauge(CLIENT_BROKER_RTT_SECONDS)
        self.backup_client_broker_connects_total = self._observed_counter(CLIENT_BROKER_CONNECTS_TOTAL)
        self.backup_client_broker_disconnects_total = self._observed_counter(CLIENT_BROKER_DISCONNECTS_TOTAL)
        self.backup_client_broker_request_timeouts_total = self._observed_counter(CLIENT_BROKER_REQUEST_TIMEOUTS_TOTAL)
        self.backup_client_broker_errors_total = self._observed_counter(CLIENT_BROKER_ERRORS_TOTAL)
        self.backup_client_broker_requests_total = self._observed_counter(CLIENT_BROKER_REQUESTS_TOTAL)
        self.backup_client_rebalances_total = self._observed_counter(CLIENT_REBALANCES_TOTAL)
        self.backup_client_assigned_partitions = self._observed_gauge(CLIENT_ASSIGNED_PARTITIONS)
        self.backup_client_consumer_lag_records = self._observed_gauge(CLIENT_CONSUMER_LAG_RECORDS)
        self.backup_client_consumed_records_total = self._observed_counter(CLIENT_CONSUMED_RECORDS_TOTAL)
        self.backup_client_consumed_bytes_total = self._observed_counter(CLIENT_CONSUMED_BYTES_TOTAL)
        self.backup_client_produced_records_total = self._observed_counter(CLIENT_PRODUCED_RECORDS_TOTAL)
        self.backup_client_produced_bytes_total = self._observed_counter(CLIENT_PRODUCED_BYTES_TOTAL)
        self.backup_client_queued_records = self._observed_gauge(CLIENT_QUEUED_RECORDS)

    def _counter(self, spec: Family) -> Counter:
        assert spec.kind is Kind.COUNTER, spec.name
        return self.meter.create_counter(spec.instrument, unit=spec.unit, description=spec.description)

    def _histogram(self, spec: Family) -> Histogram:
        assert spec.kind is Kind.HISTOGRAM, spec.name
        # The advisory gives the exact buckets even on a provider built without our Views (tests, embedders).
        return self.meter.create_histogram(
            spec.instrument,
            unit=spec.unit,
            description=spec.description,
            explicit_bucket_boundaries_advisory=list(spec.buckets),
        )

    def _gauge(self, spec: Family) -> Gauge:
        assert spec.kind is Kind.GAUGE, spec.name
        return self.meter.create_gauge(spec.instrument, unit=spec.unit, description=spec.description)

    def _observable_gauge(self, spec: Family, callback: _Callback) -> ObservableGauge:
        assert spec.kind is Kind.OBSERVABLE_GAUGE, spec.name
        return self.meter.create_observable_gauge(
            spec.instrument, callbacks=[callback], unit=spec.unit, description=spec.description
        )

    def _observed_gauge(self, spec: Family) -> ObservedValues:
        values = ObservedValues(spec.name, spec.labels)
        self._observable_gauge(spec, values.observe)
        return values

    def _observed_counter(self, spec: Family) -> ObservedValues:
        assert spec.kind is Kind.OBSERVABLE_COUNTER, spec.name
        values = ObservedValues(spec.name, spec.labels)
        self.meter.create_observable_counter(
            spec.instrument, callbacks=[values.observe], unit=spec.unit, description=spec.description
        )
        return values
