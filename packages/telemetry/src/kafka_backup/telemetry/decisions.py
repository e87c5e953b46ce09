"""Naming and label decisions where the specs disagree, rendered into ``docs/metrics.md``.

The rule (``/work/shared/seeds/README.md``): the PRD's name is canonical; where the PRD and the reference tool give a
family different label sets, the union is exposed, so summing the finer series gives the coarser one.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DECISIONS", "Decision"]


@dataclass(frozen=True)
class Decision:
    """One resolved conflict: the families it touches, what each spec says, and what we expose."""

    families: tuple[str, ...]
    prd: str
    reference: str
    resolution: str


DECISIONS: tuple[Decision, ...] = (
    Decision(
        ("kafka_backup_throughput_records_per_sec", "kafka_backup_throughput_bytes_per_sec"),
        "`_per_sec`, labels `backup_id`, `topic`",
        "`kafka_backup_throughput_records_per_second` / `_bytes_per_second`, label `backup_id`",
        "PRD names; labels `backup_id`, `topic` (the union). `sum by (backup_id)` gives the reference's series. "
        "`promtool check metrics` warns that the names contain an abbreviated unit; the PRD name is kept on purpose "
        "and the lint test accepts exactly these warnings.",
    ),
    Decision(
        ("kafka_restore_throughput_records_per_sec",),
        "`_per_sec`, label `restore_id`",
        "`kafka_restore_throughput_records_per_second`, label `backup_id`",
        "PRD name; labels `restore_id`, `backup_id` (the union). Same promtool warning as above.",
    ),
    Decision(
        ("kafka_backup_records_total", "kafka_backup_bytes_total"),
        "label `backup_id`",
        "labels `topic`, `partition`, `backup_id`; bytes are uncompressed",
        "Labels `backup_id`, `topic`, `partition`; `sum by (backup_id)` gives the PRD series. Bytes are record "
        'payload bytes before compression (the PRD\'s "payload only", the reference\'s "uncompressed").',
    ),
    Decision(
        ("kafka_backup_compressed_bytes_total", "kafka_backup_uncompressed_bytes_total"),
        "labels `algorithm`, `backup_id`",
        "compressed bytes only, labels `topic`, `backup_id`",
        "Labels `algorithm`, `backup_id`, `topic` on both, so a per-topic compression ratio can be computed from "
        "the counters.",
    ),
    Decision(
        ("kafka_backup_errors_total",),
        "labels `backup_id`, `error_type` (categories such as broker_connection, storage_io)",
        "labels `operation`, `error_type` (stable error codes such as KAFKA_CONNECTION_FAILED)",
        "Labels `backup_id`, `operation`, `error_type`. `error_type` carries the engine's stable error code (one "
        "error tree with stable codes): the codes are a finer partition of the PRD's categories and are what the "
        "logs and the CLI print. `backup_id` is empty for errors outside a backup (e.g. offset reset).",
    ),
    Decision(
        ("kafka_backup_retries_total",),
        "labels `backup_id`, `operation` (fetch, commit, write)",
        "labels `operation`, `reason`",
        "Labels `backup_id`, `operation`, `reason` (the union); `reason` is the error code that was retried.",
    ),
    Decision(
        ("kafka_backup_errors_total", "kafka_backup_storage_errors_total", "kafka_backup_retries_total"),
        "counters; silent on when their series appear",
        "counters; silent on when their series appear",
        "Created at zero when a run starts, for the label values it knows up front, so a clean run exposes them "
        "and `increase()` sees the first error (a series that first appears at 1 shows no increase): "
        "`errors_total` one series per stable error code of the engine's error tree for the run's `backup_id` and "
        "`operation` (validate: one per defect kind; backup also `OFFSET_OUT_OF_RANGE`); `storage_errors_total` one "
        "per storage error type for the store's `backend`; `retries_total` one per store call (`storage_put`, "
        "`storage_get`, `storage_stat`, `storage_list`, `storage_delete`) and retried storage error type "
        "(`timeout`, `quota`, `unknown`). Closed sets only: about 40 series per run. Other retries appear with their "
        "first retry, their reasons being an open set.",
    ),
    Decision(
        ("kafka_restore_progress_percent", "kafka_restore_eta_seconds"),
        "progress: `restore_id`, `backup_id`; ETA: `restore_id`",
        "label `backup_id`",
        "Labels `restore_id`, `backup_id` on both (the union).",
    ),
    Decision(
        ("kafka_restore_records_total",),
        "label `restore_id`",
        "labels `topic`, `partition`, `backup_id` (target topic and partition)",
        "Labels `restore_id`, `backup_id`, `topic`, `partition` (the union); topic and partition are the target's.",
    ),
    Decision(
        ("kafka_restore_bytes_total",),
        "absent",
        "labels `topic`, `backup_id`",
        "Exposed (reference-only family) with `restore_id` added, like every other restore family.",
    ),
    Decision(
        ("kafka_backup_segments_total", "kafka_offset_reset_partitions_total"),
        "absent",
        "present",
        "Exposed with the reference's labels.",
    ),
    Decision(
        ("kafka_offset_reset_latency_seconds",),
        "absent",
        "histogram with labels `consumer_group`, `quantile` (p50, p90, p99); no buckets given",
        "Histogram with label `consumer_group` only: `quantile` is reserved for summaries in the exposition format, "
        "and p50/p90/p99 come from `histogram_quantile`. Buckets 5 ms to 5 s, since one partition's reset is a "
        "single OffsetCommit round trip.",
    ),
    Decision(
        ("kafka_backup_storage_write_latency_seconds", "kafka_backup_storage_read_latency_seconds"),
        "`backend` one of s3, azure, gcs",
        "`backend` one of filesystem, s3, azure, gcs",
        "Same names, labels and buckets in both; `backend` values are the union (filesystem, s3, gcs, azure).",
    ),
    Decision(
        ("kafka_backup_lag_records",),
        "high watermark minus the committed offset",
        "records behind the high watermark",
        "High watermark minus the offset the backup reads next. The backup commits consumer offsets only after the "
        "segment's manifest is stored, so the committed offset trails the real position by up to a segment; the "
        "position is what an operator means by lag.",
    ),
    Decision(
        ("kafka_backup_last_successful_commit",),
        "gauge of a Unix timestamp, no unit suffix",
        "absent",
        "PRD name kept (no `_timestamp_seconds` suffix); OTel unit `{timestamp}` so the exporter adds none. It is an "
        "observable gauge so a partition revoked in a rebalance stops being exported instead of looking stalled.",
    ),
    Decision(
        ("kafka_backup_operator_*",),
        "operator families",
        "operator families",
        "Not exposed: there is no Kubernetes operator (out of scope for this tool).",
    ),
    Decision(
        ("kafka_restore_drill_*",),
        "absent",
        "absent (the restore-testing tool's `kymaros_*` families)",
        "Renamed into our namespace: `kymaros_tests_total` -> `kafka_restore_drill_runs_total`, `kymaros_score` -> "
        "`kafka_restore_drill_score`, `kymaros_rto_seconds` -> `kafka_restore_drill_rto_seconds`, "
        "`kymaros_test_duration_seconds` -> `kafka_restore_drill_duration_seconds` (same buckets), "
        "`kymaros_backup_age_seconds` -> `kafka_restore_drill_backup_age_seconds`; label `test` -> `drill`.",
    ),
    Decision(
        ("kafka_backup_client_*",),
        "absent",
        "absent (a Kafka client library's producer/consumer/connection metrics)",
        "Taken from librdkafka statistics rather than instrumented by hand. RTT is a gauge with a `stat` label "
        "(avg, p50, p95, p99, max) because librdkafka reports windowed aggregates, not individual samples, so no "
        "histogram can be built from them. Counters are librdkafka's cumulative totals, observed as-is.",
    ),
    Decision(
        ("kafka_backup_last_success_timestamp_seconds",),
        "absent",
        "absent",
        "Added from the architecture document's freshness gauges: alert on `time() - ...` rather than on a failure "
        "that may never be reported because the job never ran.",
    ),
    Decision(
        ("(all families)",),
        "Rust prometheus-client names",
        "Rust names",
        "OpenTelemetry instrument names are the Prometheus names without `_total` (underscores, not dots), so the "
        "same name appears in a scrape, in OTLP and after a Collector re-exposes OTLP as Prometheus.",
    ),
)
