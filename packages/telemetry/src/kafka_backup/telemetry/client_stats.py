"""librdkafka statistics -> the ``kafka_backup_client_*`` families (connection, consumer and producer views).

librdkafka already counts everything a client library would instrument on its hot paths; it hands the totals to
``stats_cb`` every ``statistics.interval.ms`` as one JSON document. ``ClientStats.update`` copies each document into
the observed state behind the client families, replacing that client's previous snapshot, so brokers and partitions
that are gone from the document disappear from /metrics. The callback runs inside ``poll()``/``consume()``/
``flush()``: a client that is not polled reports nothing.

Rules for the document (verified with confluent-kafka 2.16.1 / librdkafka 2.16.0):

- brokers: only real connections (``source`` configured or learned); the internal broker and the logical group
  coordinator would double count. ``rtt`` is in microseconds and exported in seconds; for a consumer it includes the
  fetch long-poll wait. Windowed RTT stats are exported only when the window had samples (``cnt > 0``).
- partitions: partition ``-1`` (the topic's unassigned-message queue) is skipped; only partitions whose
  ``fetch_state`` is ``active`` are exported; offsets of ``-1001`` (invalid) and negative lags are skipped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kafka_backup.telemetry.catalog import Metrics
from kafka_backup.telemetry.logs import kafka_logger
from kafka_backup.telemetry.observed import ObservedValues
from kafka_backup.telemetry.settings import TelemetrySettings

__all__ = ["ClientStats", "librdkafka_config"]

_RTT_STATS = ("avg", "p50", "p95", "p99", "max")
_REAL_BROKER_SOURCES = frozenset({"configured", "learned"})
_MICROSECONDS = 1_000_000.0
_log = logging.getLogger("kafka_backup.telemetry.client_stats")

_Series = list[tuple[dict[str, str], float]]


class ClientStats:
    """Feeds librdkafka statistics documents into a ``Metrics``'s client families.

    One instance serves every client of the process (series are keyed by the client's librdkafka ``name``, e.g.
    ``kafka-backup#consumer-1``). Pass ``stats_cb=stats.callback`` in the client config (``librdkafka_config`` does)
    and call ``forget(name)`` after closing a client.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def callback(self, document: str) -> None:
        """The ``stats_cb`` for confluent-kafka: parses the JSON document and updates; never raises into librdkafka."""
        try:
            self.update(json.loads(document))
        except (ValueError, TypeError, KeyError) as error:
            _log.warning("client_stats_unreadable", extra={"error": str(error)})

    def update(self, stats: Mapping[str, Any]) -> None:
        """Replace the client's series with those of one parsed statistics document."""
        client = str(stats["name"])
        m = self._metrics
        match = {"client": client}
        kind = stats.get("type")
        base = {"client": client}

        rtt: _Series = []
        connects: _Series = []
        disconnects: _Series = []
        timeouts: _Series = []
        errors: _Series = []
        requests: _Series = []
        for broker in _real_brokers(stats):
            labels = {**base, "broker": str(broker["name"])}
            window = broker.get("rtt") or {}
            if window.get("cnt", 0) > 0:
                rtt += [({**labels, "stat": stat}, window[stat] / _MICROSECONDS) for stat in _RTT_STATS]
            connects.append((labels, broker.get("connects", 0)))
            disconnects.append((labels, broker.get("disconnects", 0)))
            timeouts.append((labels, broker.get("req_timeouts", 0)))
            errors += [({**labels, "direction": "tx"}, broker.get("txerrs", 0))]
            errors += [({**labels, "direction": "rx"}, broker.get("rxerrs", 0))]
            requests += [
                ({**labels, "request": str(name)}, count) for name, count in (broker.get("req") or {}).items() if count
            ]
        m.backup_client_broker_rtt_seconds.replace_matching(match, rtt)
        m.backup_client_broker_connects_total.replace_matching(match, connects)
        m.backup_client_broker_disconnects_total.replace_matching(match, disconnects)
        m.backup_client_broker_request_timeouts_total.replace_matching(match, timeouts)
        m.backup_client_broker_errors_total.replace_matching(match, errors)
        m.backup_client_broker_requests_total.replace_matching(match, requests)

        consumer = kind == "consumer"
        producer = kind == "producer"
        group = stats.get("cgrp") or {}
        _replace(m.backup_client_rebalances_total, match, base, group.get("rebalance_cnt") if consumer else None)
        _replace(m.backup_client_assigned_partitions, match, base, group.get("assignment_size") if consumer else None)
        m.backup_client_consumer_lag_records.replace_matching(match, _lags(stats, base) if consumer else [])
        _replace(m.backup_client_consumed_records_total, match, base, stats.get("rxmsgs") if consumer else None)
        _replace(m.backup_client_consumed_bytes_total, match, base, stats.get("rxmsg_bytes") if consumer else None)
        _replace(m.backup_client_produced_records_total, match, base, stats.get("txmsgs") if producer else None)
        _replace(m.backup_client_produced_bytes_total, match, base, stats.get("txmsg_bytes") if producer else None)
        _replace(m.backup_client_queued_records, match, base, stats.get("msg_cnt") if producer else None)

    def forget(self, client: str) -> None:
        """Drop every series of a closed client."""
        for values in self._families():
            values.forget_matching(client=client)

    def _families(self) -> Iterable[ObservedValues]:
        m = self._metrics
        return (
            m.backup_client_broker_rtt_seconds,
            m.backup_client_broker_connects_total,
            m.backup_client_broker_disconnects_total,
            m.backup_client_broker_request_timeouts_total,
            m.backup_client_broker_errors_total,
            m.backup_client_broker_requests_total,
            m.backup_client_rebalances_total,
            m.backup_client_assigned_partitions,
            m.backup_client_consumer_lag_records,
            m.backup_client_consumed_records_total,
            m.backup_client_consumed_bytes_total,
            m.backup_client_produced_records_total,
            m.backup_client_produced_bytes_total,
            m.backup_client_queued_records,
        )


def _real_brokers(stats: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    brokers: Mapping[str, Mapping[str, Any]] = stats.get("brokers") or {}
    return [b for b in brokers.values() if b.get("source") in _REAL_BROKER_SOURCES]


def _lags(stats: Mapping[str, Any], base: Mapping[str, str]) -> _Series:
    series: _Series = []
    topics: Mapping[str, Mapping[str, Any]] = stats.get("topics") or {}
    for topic, topic_stats in topics.items():
        partitions: Mapping[str, Mapping[str, Any]] = topic_stats.get("partitions") or {}
        for partition, p in partitions.items():
            if partition == "-1" or p.get("fetch_state") != "active":
                continue
            lag = p.get("consumer_lag", -1)
            if p.get("hi_offset", -1001) == -1001 or lag < 0:
                continue
            series.append(({**base, "topic": str(topic), "partition": str(partition)}, lag))
    return series


def _replace(values: ObservedValues, match: Mapping[str, str], labels: Mapping[str, str], value: Any) -> None:
    values.replace_matching(match, [] if value is None else [(labels, float(value))])


def librdkafka_config(
    stats: ClientStats | None,
    *,
    client: str | None = None,
    statistics_interval_ms: int = 15_000,
    environ: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """Telemetry entries to merge into a confluent-kafka client config.

    - ``logger``: librdkafka's log lines into our logging pipeline (``kafka_logger(client)``);
    - ``statistics.interval.ms`` + ``stats_cb``: client metrics (omitted when ``stats`` is None);
    - ``enable.metrics.push``: KIP-714 client metrics push to the broker, off unless
      ``KAFKA_BACKUP_KAFKA_METRICS_PUSH=true`` (librdkafka enables it by default and it has known bugs).
    """
    push = TelemetrySettings.from_env(environ).kafka_metrics_push
    config: dict[str, object] = {"logger": kafka_logger(client), "enable.metrics.push": push}
    if stats is not None:
        callback: Callable[[str], None] = stats.callback
        config["statistics.interval.ms"] = statistics_interval_ms
        config["stats_cb"] = callback
    return config
