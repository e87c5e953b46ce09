"""librdkafka statistics -> client metrics: documents shaped like librdkafka's, and real clients on the real broker."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import confluent_kafka
import pytest

from kafka_backup.telemetry.client_stats import ClientStats, librdkafka_config
from kafka_backup.telemetry.testing import MetricsCapture
from rig.kafka import KafkaEndpoint
from rig.tricky import create_topic


@pytest.fixture
def capture() -> Iterator[MetricsCapture]:
    """A Metrics on an in-memory reader."""
    with MetricsCapture() as capture:
        yield capture


def consumer_document(**partition_overrides: dict[str, Any]) -> dict[str, Any]:
    """A minimal consumer statistics document shaped like librdkafka 2.16's."""
    partitions: dict[str, Any] = {
        "-1": {"fetch_state": "none", "consumer_lag": -1, "hi_offset": -1001},
        "0": {"fetch_state": "active", "consumer_lag": 40, "hi_offset": 100},
        "1": {"fetch_state": "stopped", "consumer_lag": 5, "hi_offset": 100},
        "2": {"fetch_state": "active", "consumer_lag": -1, "hi_offset": -1001},
    }
    for name, values in partition_overrides.items():
        partitions[name.removeprefix("p")] = values
    return {
        "name": "kb#consumer-1",
        "type": "consumer",
        "rxmsgs": 500,
        "rxmsg_bytes": 50_000,
        "brokers": {
            "b:9092/1": {
                "name": "b:9092/1",
                "source": "learned",
                "rtt": {"cnt": 3, "avg": 2000, "p50": 1500, "p95": 4000, "p99": 5000, "max": 6000},
                "connects": 2,
                "disconnects": 1,
                "req_timeouts": 0,
                "txerrs": 0,
                "rxerrs": 1,
                "req": {"Fetch": 12, "Produce": 0},
            },
            ":0/internal": {"name": ":0/internal", "source": "internal", "rtt": {"cnt": 0}, "connects": 0},
            "GroupCoordinator": {"name": "GroupCoordinator", "source": "logical", "rtt": {"cnt": 0}, "connects": 1},
        },
        "cgrp": {"rebalance_cnt": 2, "assignment_size": 3},
        "topics": {"orders": {"partitions": partitions}},
    }


class TestClientStats:
    def test_consumer_document(self, capture: MetricsCapture) -> None:
        """Broker, group and consumer counters are copied; RTT is converted from microseconds to seconds."""
        ClientStats(capture.metrics).update(consumer_document())
        client = {"client": "kb#consumer-1"}
        broker = {**client, "broker": "b:9092/1"}
        assert capture.value("kafka_backup_client_broker_rtt_seconds", **broker, stat="p99") == 0.005
        assert capture.value("kafka_backup_client_broker_connects_total", **broker) == 2
        assert capture.value("kafka_backup_client_broker_disconnects_total", **broker) == 1
        assert capture.value("kafka_backup_client_broker_errors_total", **broker, direction="rx") == 1
        assert capture.value("kafka_backup_client_broker_requests_total", **broker, request="Fetch") == 12
        assert capture.value("kafka_backup_client_broker_requests_total", **broker, request="Produce") is None
        assert capture.value("kafka_backup_client_rebalances_total", **client) == 2
        assert capture.value("kafka_backup_client_assigned_partitions", **client) == 3
        assert capture.value("kafka_backup_client_consumed_records_total", **client) == 500
        assert capture.value("kafka_backup_client_produced_records_total", **client) is None

    def test_internal_and_logical_brokers_are_skipped(self, capture: MetricsCapture) -> None:
        """Only real broker connections are exported."""
        ClientStats(capture.metrics).update(consumer_document())
        brokers = {dict(k)["broker"] for k in capture.series("kafka_backup_client_broker_connects_total")}
        assert brokers == {"b:9092/1"}

    def test_partition_rules(self, capture: MetricsCapture) -> None:
        """Partition -1, non-active fetch states and invalid (-1001) offsets are not exported."""
        ClientStats(capture.metrics).update(consumer_document())
        lags = capture.series("kafka_backup_client_consumer_lag_records")
        assert lags == {frozenset({"client": "kb#consumer-1", "topic": "orders", "partition": "0"}.items()): 40.0}

    def test_snapshot_replaces_previous(self, capture: MetricsCapture) -> None:
        """A partition missing from the next document (revoked) disappears."""
        stats = ClientStats(capture.metrics)
        stats.update(consumer_document())
        stats.update(consumer_document(p0={"fetch_state": "none", "consumer_lag": 40, "hi_offset": 100}))
        assert capture.series("kafka_backup_client_consumer_lag_records") == {}

    def test_forget_client(self, capture: MetricsCapture) -> None:
        """forget() drops every series of a closed client."""
        stats = ClientStats(capture.metrics)
        stats.update(consumer_document())
        stats.forget("kb#consumer-1")
        assert capture.series("kafka_backup_client_broker_connects_total") == {}
        assert capture.series("kafka_backup_client_consumed_records_total") == {}

    def test_callback_survives_garbage(self, capture: MetricsCapture, caplog: pytest.LogCaptureFixture) -> None:
        """A malformed document is logged and changes nothing, never raised into librdkafka's poll."""
        stats = ClientStats(capture.metrics)
        stats.callback(json.dumps(consumer_document()))
        before = capture.series("kafka_backup_client_consumed_records_total")
        assert before, "the valid document produced no series"
        with caplog.at_level(logging.WARNING, logger="kafka_backup.telemetry.client_stats"):
            stats.callback("{not json")
            stats.callback(json.dumps({"no": "name"}))
        assert [r.getMessage() for r in caplog.records] == ["client_stats_unreadable"] * 2
        assert capture.series("kafka_backup_client_consumed_records_total") == before

    def test_real_producer_and_consumer(self, capture: MetricsCapture, kafka: KafkaEndpoint, topic_name: str) -> None:
        """Statistics from real librdkafka clients on the real broker fill producer and consumer families."""
        create_topic(kafka.bootstrap, topic_name, 2)
        stats = ClientStats(capture.metrics)
        config = librdkafka_config(stats, client="probe", statistics_interval_ms=100, environ={})
        producer = confluent_kafka.Producer({**kafka.client_config(), "client.id": "kb", **config})
        for i in range(20):
            producer.produce(topic_name, b"x" * 10, partition=i % 2)
        producer.flush(10)
        # librdkafka's txmsgs counts transmissions: a batch the fresh topic's leader refused once is sent again
        wait_for(lambda: sum(clients(capture, "kafka_backup_client_produced_records_total").values()) >= 20, producer)
        (sent,) = clients(capture, "kafka_backup_client_produced_records_total").values()
        assert 20 <= sent <= 40, sent
        assert capture.series("kafka_backup_client_broker_connects_total")

        consumer = confluent_kafka.Consumer(
            {**kafka.client_config(), "group.id": f"g-{topic_name}", "auto.offset.reset": "earliest", **config}
        )
        try:
            consumer.subscribe([topic_name])
            received = 0
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                received < 20 or sum(clients(capture, "kafka_backup_client_consumed_records_total").values()) < 20
            ):
                message = consumer.poll(0.1)
                received += message is not None and message.error() is None
            assert received == 20
            (name,) = clients(capture, "kafka_backup_client_consumed_records_total")
            assert "#consumer-" in name
            assert capture.value("kafka_backup_client_consumed_records_total", client=name) == 20
            assert capture.value("kafka_backup_client_rebalances_total", client=name) == 1
            assert capture.value("kafka_backup_client_assigned_partitions", client=name) == 2
        finally:
            consumer.close()


def clients(capture: MetricsCapture, family: str) -> dict[str, float]:
    """Value of a per-client family by client name."""
    return {dict(labels)["client"]: v for labels, v in capture.series(family).items() if isinstance(v, float)}


def wait_for(condition: Callable[[], bool], client: confluent_kafka.Producer) -> None:
    """Poll the client (statistics arrive only from poll) until the condition holds or 10 s pass."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not condition():
        client.poll(0.1)


class TestLibrdkafkaConfig:
    def test_push_off_by_default(self) -> None:
        """KIP-714 push is disabled unless KAFKA_BACKUP_KAFKA_METRICS_PUSH=true."""
        assert librdkafka_config(None, environ={})["enable.metrics.push"] is False
        assert (
            librdkafka_config(None, environ={"KAFKA_BACKUP_KAFKA_METRICS_PUSH": "true"})["enable.metrics.push"] is True
        )

    def test_stats_wiring(self, capture: MetricsCapture) -> None:
        """With a ClientStats the config asks for statistics and routes them to its callback; logs go to kafka.*."""
        stats = ClientStats(capture.metrics)
        config = librdkafka_config(stats, client="c1", statistics_interval_ms=5000, environ={})
        assert config["statistics.interval.ms"] == 5000
        assert config["stats_cb"] == stats.callback
        assert getattr(config["logger"], "name", None) == "kafka.c1"
        assert "stats_cb" not in librdkafka_config(None, environ={})
