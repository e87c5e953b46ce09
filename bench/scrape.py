"""The /metrics case, run in a child process of its own: ``python -m bench.scrape --series N`` prints JSON.

Series are made the way a backup makes them: per partition, the per-partition counters, the lag gauges and the
last-commit gauge, through ``kafka_backup.telemetry.setup()`` (Prometheus reader with process, platform and GC
collectors) and ``Metrics``. Partitions are added until the scrape exposes at least N ``kafka_`` samples.

Memory: Python allocations (``tracemalloc``) held by the provider, the aggregations and the registry after one
scrape, minus a baseline taken after ``setup()`` with no series. Latency: sequential GETs over loopback with the
headers Prometheus sends (OpenMetrics, gzip), timed from request to last body byte, ``--pause-ms`` apart so the
requests span several of the server's background renders (which compete with the scrapes for the interpreter).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import statistics
import sys
import time
import tracemalloc

from prometheus_client import generate_latest

from kafka_backup.telemetry import Metrics, Telemetry, serve_metrics, setup

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def record_partitions(metrics: Metrics, start: int, count: int) -> None:
    """What a backup records for ``count`` partitions (topic t<i // 100>, partition i % 100)."""
    for i in range(start, start + count):
        topic, partition = f"topic-{i // 100:04d}", i % 100
        labels = {"backup_id": "bench", "topic": topic, "partition": str(partition)}
        metrics.backup_records_total.add(1000, labels)
        metrics.backup_bytes_total.add(1_000_000, labels)
        metrics.backup_segments_total.add(1, labels)
        metrics.backup_last_successful_commit.set(time.time(), labels)
        metrics.lag.update("bench", topic, partition, 10_000, 9_000, last_record_timestamp_ms=1, avg_record_bytes=1000)


def kafka_samples(telemetry: Telemetry) -> int:
    text = generate_latest(telemetry.registry).decode()
    return sum(1 for line in text.splitlines() if line.startswith("kafka_"))


def build(series: int) -> tuple[Telemetry, int, int]:
    """Telemetry holding at least ``series`` kafka_ samples; returns it, the partitions and the sample count."""
    env = {"OTEL_SDK_DISABLED": "false", "KAFKA_BACKUP_METRICS_CARDINALITY_LIMIT": str(10 * series)}
    telemetry = setup(environ=env, set_global=False, configure_logs=False)
    metrics = telemetry.metrics
    record_partitions(metrics, 0, 10)
    per_partition = max(1, kafka_samples(telemetry) // 10)
    partitions = 10
    while (have := kafka_samples(telemetry)) < series:
        more = max(1, (series - have) // per_partition)
        record_partitions(metrics, partitions, more)
        partitions += more
    return telemetry, partitions, have


def get(conn: http.client.HTTPConnection, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    conn.request("GET", path, headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"scrape returned {response.status}")
    if response.getheader("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return elapsed, len(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.scrape")
    parser.add_argument("--series", type=int, required=True)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--pause-ms", type=float, default=20.0)
    args = parser.parse_args(argv)

    tracemalloc.start()
    baseline_env = {"OTEL_SDK_DISABLED": "false"}
    empty = setup(environ=baseline_env, set_global=False, configure_logs=False)
    generate_latest(empty.registry)
    before = tracemalloc.get_traced_memory()[0]
    telemetry, partitions, samples = build(args.series)
    generate_latest(telemetry.registry)
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.reset_peak()
    generate_latest(telemetry.registry)
    scrape_peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()

    server = serve_metrics(telemetry.registry, host="127.0.0.1", port=0)
    try:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
        for _ in range(5):  # warm-up
            get(conn, server.path)
        timings, sizes = [], []
        for _ in range(args.requests):
            elapsed, size = get(conn, server.path)
            timings.append(elapsed * 1000)
            sizes.append(size)
            time.sleep(args.pause_ms / 1000)
        conn.close()
    finally:
        server.stop()
        telemetry.shutdown()
        empty.shutdown()
    timings.sort()
    json.dump(
        {
            "series": samples,
            "partitions": partitions,
            "requests": args.requests,
            "pause_ms": args.pause_ms,
            "p50_ms": statistics.median(timings),
            "p99_ms": timings[min(len(timings) - 1, int(0.99 * len(timings)))],
            "max_ms": timings[-1],
            "body_bytes": statistics.median(sizes),
            "registry_mb": held / 1e6,
            "scrape_peak_mb": scrape_peak / 1e6,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
