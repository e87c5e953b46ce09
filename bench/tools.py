"""The contestants: our CLI and the peers, each one measured child process returning a :class:`Figures`.

Throughput is always the data set's payload (key + value + header bytes, MB = 10^6 bytes) over the process's wall
time, for every tool alike, after checking that the tool moved every record.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.measure import Sample, run
from kafka_backup.engine.testing import HEADERS, DataSet, create_topic, delete_topics, topic_records, values
from rig.kafka import java_command, require_tool

BIN = Path(sys.executable).parent
OURS = str(BIN / "kafka-backup")


@dataclass(frozen=True)
class Figures:
    """What one run of one tool measured."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    records: int
    payload_mb: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s

    @property
    def mb_per_s(self) -> float:
        return self.payload_mb / self.wall_s

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "records_per_s": self.records_per_s, "mb_per_s": self.mb_per_s}


def figures(sample: Sample, data: DataSet) -> Figures:
    return Figures(sample.wall_s, sample.cpu_s, sample.peak_rss_mb, data.records, data.payload_bytes / 1e6)


def _expect(what: str, got: int | None, want: int) -> None:
    if got != want:
        raise RuntimeError(f"{what}: moved {got} records, expected {want}")


# ---- backup side --------------------------------------------------------------------------------------------------

TELEMETRY_OFF = {"OTEL_SDK_DISABLED": "true"}


def backup_config(bootstrap: str, topic: str, backup_id: str, store: Path) -> str:
    """A backup job as a user would write it: zstd level 1 (the default), snapshot mode, checksums always on."""
    return json.dumps(
        {
            "backup_id": backup_id,
            "source": {"bootstrap_servers": bootstrap},
            "topics": {"include": [topic]},
            "storage": {"url": f"file://{store}"},
            "compression": {"codec": "zstd", "level": 1},
            "mode": "snapshot",
            "consumer_groups": {"capture": False},
        }
    )


def ours_backup(
    bootstrap: str,
    data: DataSet,
    workdir: Path,
    *,
    env: Mapping[str, str],
    extra_args: tuple[str, ...] = (),
    keep: bool = False,
) -> tuple[Figures, Path]:
    """``kafka-backup backup --json`` of the data set's topic into a fresh store; the store is removed unless kept."""
    backup_id = f"bench-{uuid.uuid4().hex[:8]}"
    root = workdir / backup_id
    root.mkdir(parents=True)
    config = root / "backup.yaml"  # JSON is YAML
    config.write_text(backup_config(bootstrap, data.topic, backup_id, root / "store"))
    sample = run([OURS, "backup", "--config", str(config), "--json", *extra_args], env=env).check("kafka-backup")
    summary = json.loads(sample.stdout.strip().splitlines()[-1])
    _expect("kafka-backup backup", summary["records"], data.records)
    if summary["uncompressed_bytes"] != data.payload_bytes:
        raise RuntimeError(
            f"backup counted {summary['uncompressed_bytes']} payload bytes, expected {data.payload_bytes}"
        )
    if not keep:
        shutil.rmtree(root)
    return figures(sample, data), root


KCAT_FORMAT = "%k\t%s\n"
"""kcat's dump format: key TAB value per line, which ``kcat -P -K TAB`` can replay (values hold no tab/newline)."""


def kcat_dump(bootstrap: str, data: DataSet, out: Path, env: Mapping[str, str]) -> Figures:
    """``kcat -C -e -o beginning`` of the whole topic into a file (all partitions, exit at their ends)."""
    kcat = require_tool("kcat", "apt-get install kcat")
    cmd = [kcat, "-C", "-b", bootstrap, "-t", data.topic, "-o", "beginning", "-e", "-q", "-f", KCAT_FORMAT]
    sample = run(cmd, env=env, stdout_path=out).check("kcat -C")
    with out.open("rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    _expect("kcat -C", lines, data.records)
    return figures(sample, data)


def kcat_zstd_dump(bootstrap: str, data: DataSet, out: Path, env: Mapping[str, str]) -> Figures:
    """The hand-rolled compressed dump: the same ``kcat -C`` as :func:`kcat_dump` piped into ``zstd -1`` (one
    stream, one thread: the zstd CLI's default), through ``bash -o pipefail`` so a failure of either fails the run.
    The measured process is the shell: ``wait4`` reaps it with kcat and zstd, so CPU and peak RSS cover both tools.
    The record count is checked afterwards by decompressing the file, outside the timing."""
    kcat = require_tool("kcat", "apt-get install kcat")
    zstd = require_tool("zstd", "apt-get install zstd")
    bash = require_tool("bash", "apt-get install bash")
    dump = [kcat, "-C", "-b", bootstrap, "-t", data.topic, "-o", "beginning", "-e", "-q", "-f", KCAT_FORMAT]
    pipeline = f"{shlex.join(dump)} | {shlex.join([zstd, '-1', '-q', '-c'])}"
    sample = run([bash, "-o", "pipefail", "-c", pipeline], env=env, stdout_path=out).check("kcat -C | zstd -1")
    with subprocess.Popen([zstd, "-d", "-q", "-c", str(out)], stdout=subprocess.PIPE) as unzstd:
        stream = unzstd.stdout
        assert stream is not None
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    if unzstd.returncode != 0:
        raise RuntimeError(f"zstd -d {out} exited with {unzstd.returncode}")
    _expect("kcat -C | zstd -1", lines, data.records)
    return figures(sample, data)


def java_consumer_perf(bootstrap: str, data: DataSet, env: Mapping[str, str]) -> Figures:
    """Kafka's ``ConsumerPerformance`` (kafka-consumer-perf-test) reading every record, from the broker's own jars."""
    cmd = java_command(
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", bootstrap, "--topic", data.topic, "--messages", str(data.records),
        "--group", f"bench-cp-{uuid.uuid4().hex[:8]}", "--timeout", "60000",
    )  # fmt: skip
    sample = run(cmd, env=env).check("ConsumerPerformance")
    # CSV: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
    row = [line for line in sample.stdout.splitlines() if line and line[0].isdigit()][-1]
    _expect("ConsumerPerformance", int(row.split(",")[4].strip()), data.records)
    return figures(sample, data)


# ---- restore side -------------------------------------------------------------------------------------------------


def restore_config(bootstrap: str, data: DataSet, store: Path, backup_id: str, target: str) -> str:
    return json.dumps(
        {
            "backup_id": backup_id,
            "restore_id": f"bench-{uuid.uuid4().hex[:8]}",
            "storage": {"url": f"file://{store}"},
            "target": {"bootstrap_servers": bootstrap},
            "topics": {"include": [data.topic]},
            "topic_map": {data.topic: target},
        }
    )


def ours_restore(bootstrap: str, data: DataSet, backup_root: Path, workdir: Path, env: Mapping[str, str]) -> Figures:
    """``kafka-backup restore --json`` of a backup of the data set into a new topic (created by the restore)."""
    target = f"{data.topic}-restored-{uuid.uuid4().hex[:6]}"
    config = workdir / f"restore-{target}.yaml"
    config.write_text(restore_config(bootstrap, data, backup_root / "store", backup_root.name, target))
    try:
        cmd = [OURS, "restore", "--config", str(config), "--json", "--no-progress"]
        sample = run(cmd, env=env).check("kafka-backup restore")
        _expect("kafka-backup restore", topic_records(bootstrap, target), data.records)
        return figures(sample, data)
    finally:
        delete_topics(bootstrap, [target])


PAYLOAD_LINES = 20_000


def payload_file(data: DataSet, path: Path) -> Path:
    """Values of the data set, one per line, for ``ProducerPerformance --payload-file`` (it picks them at random)."""
    if not path.exists():
        path.write_bytes(b"\n".join(values(data, min(PAYLOAD_LINES, data.records))) + b"\n")
    return path


PRODUCER_SETTINGS = {"compression.type": "lz4", "acks": "all", "enable.idempotence": "true"}
"""What our restore's producer forces or sets (idempotent, acks=all, lz4); batching stays at each tool's default."""


def java_producer_perf(bootstrap: str, data: DataSet, payloads: Path, env: Mapping[str, str]) -> Figures:
    """Kafka's ``ProducerPerformance`` sending the data set's values (no keys, no headers) at full speed."""
    target = f"{data.topic}-pp-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, target, data.partitions, exist_ok=True)
    try:
        props = [f"bootstrap.servers={bootstrap}", *(f"{k}={v}" for k, v in PRODUCER_SETTINGS.items())]
        cmd = java_command(
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic", target, "--num-records", str(data.records), "--payload-file", str(payloads),
            "--throughput", "-1", "--producer-props", *props,
        )  # fmt: skip
        sample = run(cmd, env=env).check("ProducerPerformance")
        _expect("ProducerPerformance", topic_records(bootstrap, target), data.records)
        return figures(sample, data)
    finally:
        delete_topics(bootstrap, [target])


def kcat_produce(bootstrap: str, data: DataSet, dump: Path, env: Mapping[str, str]) -> Figures:
    """``kcat -P`` replaying the kcat dump (key TAB value lines) with the data set's two headers on every record."""
    kcat = require_tool("kcat", "apt-get install kcat")
    target = f"{data.topic}-kp-{uuid.uuid4().hex[:6]}"
    create_topic(bootstrap, target, data.partitions, exist_ok=True)
    try:
        headers = [arg for k, v in HEADERS for arg in ("-H", f"{k}={v.decode() if isinstance(v, bytes) else v}")]
        settings = [arg for k, v in PRODUCER_SETTINGS.items() for arg in ("-X", f"{k}={v}")]
        cmd = [kcat, "-P", "-b", bootstrap, "-t", target, "-K", "\t", *headers, *settings, "-l", str(dump)]
        sample = run(cmd, env=env).check("kcat -P")
        _expect("kcat -P", topic_records(bootstrap, target), data.records)
        return figures(sample, data)
    finally:
        delete_topics(bootstrap, [target])
