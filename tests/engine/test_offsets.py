"""Offset translation with a live consumer group: it resumes on the restored topic exactly where it stopped."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from engine.restore_support import create_topic, make_backup, make_restore, read_topic
from kafka_backup.cli.main import cli
from rig.kafka import KafkaEndpoint

PER_PARTITION = 40
CONSUMED = {0: 25, 1: 13}
"""Records the group consumed (and committed) per partition before the backup."""


def _produce_with_gaps(bootstrap: str, topic: str) -> None:
    """Per partition: 20 committed, 10 aborted, 20 committed records (transaction markers and aborts leave gaps)."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    for batch, commit in (("a", True), ("x", False), ("b", True)):
        producer.begin_transaction()
        for i in range(20 if commit else 10):
            for p in (0, 1):
                producer.produce(topic, key=f"k{i}".encode(), value=f"p{p}-{batch}{i}".encode(), partition=p)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)


def _consume_and_commit(bootstrap: str, topic: str, group: str) -> list[bytes]:
    """A real member of ``group`` reads the first CONSUMED records of each partition and commits its positions."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    seen: dict[int, list[tuple[int, bytes]]] = {0: [], 1: []}
    deadline = time.monotonic() + 60
    while any(len(seen[p]) < CONSUMED[p] for p in seen) and time.monotonic() < deadline:
        for msg in consumer.consume(100, timeout=1):
            assert msg.error() is None, msg.error()
            part, value = msg.partition(), msg.value()
            assert part is not None and isinstance(value, bytes)
            seen[part].append((msg.offset() or 0, value))
    positions = [TopicPartition(topic, p, seen[p][CONSUMED[p]][0]) for p in seen]
    consumer.commit(offsets=positions, asynchronous=False)
    consumer.close()
    return [v for p in seen for _, v in seen[p][: CONSUMED[p]]]


def _resume(bootstrap: str, topic: str, group: str, expect: int) -> tuple[Consumer, list[bytes]]:
    """The group subscribes to the restored topic; returns the still-open member and what it received."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    got: list[bytes] = []
    eof: set[int] = set()
    deadline = time.monotonic() + 60
    while (len(eof) < 2 or len(got) < expect) and time.monotonic() < deadline:
        for msg in consumer.consume(100, timeout=0.5):
            err = msg.error()
            if err is not None and err.code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition() or 0)
                continue
            assert err is None, err
            value = msg.value()
            assert isinstance(value, bytes)
            got.append(value)
    time.sleep(1)  # anything beyond the expected records would arrive now
    got += [m.value() for m in consumer.consume(100, timeout=1) if m.error() is None]  # type: ignore[misc]
    return consumer, got


Consumed = tuple[str, str, Path, list[bytes]]
"""(topic, group, backup root, values the group consumed before the backup)."""


@pytest.fixture(scope="module")
def consumed_backup(kafka: KafkaEndpoint, tmp_path_factory: pytest.TempPathFactory) -> Consumed:
    """A topic with offset gaps, a group that consumed part of it, and a backup capturing the group's offsets."""
    topic = f"grp-{uuid.uuid4().hex[:6]}"
    group = f"app-{uuid.uuid4().hex[:6]}"
    create_topic(kafka.bootstrap, topic, 2)
    _produce_with_gaps(kafka.bootstrap, topic)
    consumed = _consume_and_commit(kafka.bootstrap, topic, group)
    root = tmp_path_factory.mktemp("groups")
    make_backup(kafka.bootstrap, root, "groups", [topic], max_records=7)
    return topic, group, root, consumed


class TestLiveGroup:
    def test_group_resumes_with_exactly_the_unconsumed_records(
        self, kafka: KafkaEndpoint, consumed_backup: Consumed
    ) -> None:
        """restore to a renamed topic + offset-reset execute: the group sees exactly what it had not consumed."""
        topic, group, root, consumed = consumed_backup
        target = f"{topic}-restored"
        summary = make_restore(kafka.bootstrap, root, "groups", topic_map={topic: target})
        runner = CliRunner()
        where = ["--storage-url", f"file://{root}", "--backup-id", "groups", "--restore-id", summary.restore_id]
        planned = runner.invoke(cli, ["offset-reset", "plan", *where, "--group", group, "--json"])
        assert planned.exit_code == 0, planned.output
        plan = json.loads(planned.stdout.strip().splitlines()[-1])["groups"][0]
        assert {(p["topic"], p["partition"], p["offset"]) for p in plan["partitions"]} == {
            (target, 0, CONSUMED[0]),
            (target, 1, CONSUMED[1]),
        }
        executed = runner.invoke(cli, ["offset-reset", "execute", *where, "--group", group])
        assert executed.exit_code == 0, executed.output

        source_values = [r[6] or b"" for r in read_topic(kafka.bootstrap, topic)]
        unconsumed = sorted(v for v in source_values if v not in consumed)
        member, got = _resume(kafka.bootstrap, target, group, len(unconsumed))
        try:
            assert sorted(got) == unconsumed
            assert len(got) == 2 * PER_PARTITION - sum(CONSUMED.values())

            refused = runner.invoke(cli, ["offset-reset", "execute", *where, "--group", group])
            assert refused.exit_code == 1
            assert "CONSUMER_GROUP_ACTIVE" in refused.output and group in refused.output
        finally:
            member.close()

    def test_restore_resets_groups_as_its_last_phase(self, kafka: KafkaEndpoint, consumed_backup: Consumed) -> None:
        """restore with consumer_groups.reset commits the translated offsets in the same command."""
        topic, group, root, _ = consumed_backup
        target = f"{topic}-onecmd"
        summary = make_restore(
            kafka.bootstrap,
            root,
            "groups",
            topic_map={topic: target},
            consumer_groups={"reset": True, "include": [group]},
        )
        assert [r["group"] for r in summary.offset_reset] == [group]
        admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(target, 0), TopicPartition(target, 1)])]
        result = admin.list_consumer_group_offsets(request)[group].result(timeout=10)
        assert {(tp.partition, tp.offset) for tp in result.topic_partitions or []} == set(CONSUMED.items())

    def test_translation_skips_to_the_next_restored_record(
        self, kafka: KafkaEndpoint, consumed_backup: Consumed
    ) -> None:
        """With a window that drops what the group had not read yet, its offset lands on the next restored record."""
        topic, group, root, _ = consumed_backup
        target = f"{topic}-partial"
        rows = read_topic(kafka.bootstrap, topic)
        p0 = [r for r in rows if r[1] == 0]
        summary = make_restore(
            kafka.bootstrap,
            root,
            "groups",
            topic_map={topic: target},
            partitions={topic: [0]},
            offset_ranges=[{"topic": topic, "to": p0[CONSUMED[0] - 1][2]}],
        )
        runner = CliRunner()
        where = ["--storage-url", f"file://{root}", "--backup-id", "groups", "--restore-id", summary.restore_id]
        planned = runner.invoke(cli, ["offset-reset", "plan", *where, "--group", group, "--json"])
        assert planned.exit_code == 0, planned.output
        (only,) = json.loads(planned.stdout.strip().splitlines()[-1])["groups"][0]["partitions"]
        assert (only["topic"], only["partition"], only["offset"]) == (target, 0, CONSUMED[0])

    def test_script_emits_kafka_consumer_groups_commands(self, kafka: KafkaEndpoint, consumed_backup: Consumed) -> None:
        """script prints one kafka-consumer-groups.sh --reset-offsets --to-offset line per partition."""
        topic, group, root, _ = consumed_backup
        target = f"{topic}-script"
        summary = make_restore(kafka.bootstrap, root, "groups", topic_map={topic: target})
        where = ["--storage-url", f"file://{root}", "--backup-id", "groups", "--restore-id", summary.restore_id]
        result = CliRunner().invoke(cli, ["offset-reset", "script", *where, "--group", group])
        assert result.exit_code == 0, result.output
        lines = [line for line in result.output.splitlines() if line.startswith("kafka-consumer-groups.sh")]
        assert len(lines) == 2
        for partition, offset in CONSUMED.items():
            expected = f"--group {group} --topic {target}:{partition} --reset-offsets --to-offset {offset} --execute"
            assert any(expected in line and kafka.bootstrap in line for line in lines)
