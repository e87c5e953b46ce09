"""``kafka-backup service``: continuous backup with /metrics, /healthz and /readyz always on; clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from confluent_kafka import Producer

from engine.backup_helpers import backup_config
from rig.kafka import KafkaEndpoint, free_port
from rig.tricky import create_topic


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class TestService:
    def test_serves_metrics_and_stops_on_sigterm(self, kafka: KafkaEndpoint, topic_name: str, tmp_path: Path) -> None:
        """The service becomes ready, exposes live counters matching what it backed up, and exits 0 on SIGTERM."""
        create_topic(kafka.bootstrap, topic_name, 2)
        producer = Producer(kafka.client_config())
        for i in range(800):
            producer.produce(topic_name, key=str(i).encode(), value=b"z" * 64)
        producer.flush(30)
        port = free_port()
        data = backup_config(kafka.bootstrap, "svc", tmp_path / "s", [topic_name], segment={"max_age_s": 0.5})
        data["metrics"] = {"port": port}
        config = tmp_path / "svc.yaml"
        config.write_text(yaml.safe_dump(data))
        proc = subprocess.Popen(
            [sys.executable, "-m", "kafka_backup.cli", "service", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "KAFKA_BACKUP_LOG_LEVEL": "warning"},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            ready = (0, "")
            while time.monotonic() < deadline:
                try:
                    ready = get(f"{base}/readyz")
                    body = get(f"{base}/metrics")[1]
                except OSError:
                    time.sleep(0.2)
                    continue
                if ready[0] == 200 and 'kafka_backup_records_total{backup_id="svc"' in body:
                    total = sum(
                        float(line.rsplit(" ", 1)[1])
                        for line in body.splitlines()
                        if line.startswith('kafka_backup_records_total{backup_id="svc"')
                    )
                    if total == 800:
                        break
                time.sleep(0.2)
            else:
                raise AssertionError(f"service never reported 800 records ready={ready}")
            assert get(f"{base}/healthz")[0] == 200
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err.decode()[-2000:]
        assert "Records: 800" in out.decode()
