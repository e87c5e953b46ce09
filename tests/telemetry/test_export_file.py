"""Tests of writing metrics files."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafka_backup.telemetry.errors import MetricsFileError
from kafka_backup.telemetry.export_file import write_metrics_file
from kafka_backup.telemetry.providers import Telemetry, setup

ATTRS = {"backup_id": "b", "topic": "t", "partition": "0"}


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """A setup with a counter and a histogram recorded."""
    telemetry = setup(environ={}, set_global=False, configure_logs=False)
    telemetry.metrics.backup_records_total.add(3, ATTRS)
    telemetry.metrics.backup_duration_seconds.record(12.0, {"backup_id": "b", "status": "success"})
    yield telemetry
    telemetry.shutdown()


class TestWriteMetricsFile:
    def test_prom_is_prometheus_text(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """A .prom file parses as Prometheus text, is world-readable and leaves no temporary file behind."""
        path = write_metrics_file(telemetry.registry, tmp_path / "textfile" / "kafka_backup.prom")
        families = {f.name: f for f in text_string_to_metric_families(path.read_text())}
        assert families["kafka_backup_records"].samples[0].value == 3.0
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert [p.name for p in path.parent.iterdir()] == ["kafka_backup.prom"]

    def test_prom_replaces_atomically(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """Writing again replaces the file (a new inode renamed over the old one)."""
        path = tmp_path / "m.prom"
        path.write_text("old\n")
        old_inode = path.stat().st_ino
        write_metrics_file(telemetry.registry, path)
        assert path.stat().st_ino != old_inode
        assert "kafka_backup_records_total" in path.read_text()

    def test_json_array_of_metric_objects(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """A .json file is an array of sample objects with name, type, help, labels and value."""
        path = write_metrics_file(telemetry.registry, tmp_path / "m.json")
        samples = json.loads(path.read_text())
        records = next(s for s in samples if s["name"] == "kafka_backup_records_total")
        assert records["type"] == "counter"
        assert records["labels"] == ATTRS
        assert records["value"] == 3.0
        assert records["help"]
        buckets = [s for s in samples if s["name"] == "kafka_backup_duration_seconds_bucket"]
        assert buckets[-1]["labels"]["le"] == "+Inf"

    def test_unknown_suffix(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """Any other suffix is a typed error."""
        with pytest.raises(MetricsFileError, match=r"\.prom"):
            write_metrics_file(telemetry.registry, tmp_path / "m.txt")

    def test_unwritable_directory(self, telemetry: Telemetry, tmp_path: Path) -> None:
        """A path under a regular file is a typed error, not an OSError."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(MetricsFileError):
            write_metrics_file(telemetry.registry, blocker / "m.prom")
