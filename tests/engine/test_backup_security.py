"""SASL against the real broker's SASL listener: PLAIN and SCRAM work, a wrong password fails fast, no secret leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer

from cli.test_backup_cli import one_error_line, run_cli
from engine.backup_helpers import backup_config
from rig.kafka import SASL_USERS, KafkaEndpoint
from rig.tricky import create_topic

PASSWORD = SASL_USERS["alice"]


def sasl_config(kafka: KafkaEndpoint, topic: str, root: Path, mechanism: str, password_ref: str) -> dict[str, object]:
    if kafka.sasl_bootstrap is None:
        pytest.skip("the external cluster has no SASL listener configured for tests")
    data = backup_config(kafka.sasl_bootstrap, "sasl", root, [topic])
    data["source"]["security"] = {
        "protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_username": "alice",
        "sasl_password": password_ref,
    }
    return data


@pytest.fixture
def sasl_topic(kafka: KafkaEndpoint, topic_name: str) -> str:
    create_topic(kafka.bootstrap, topic_name, 2)
    producer = Producer(kafka.client_config())
    for i in range(500):
        producer.produce(topic_name, key=str(i).encode(), value=b"secret-free payload")
    producer.flush(30)
    return topic_name


class TestSasl:
    @pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    def test_backup_over_sasl(self, kafka: KafkaEndpoint, sasl_topic: str, tmp_path: Path, mechanism: str) -> None:
        """A backup through the SASL listener with each mechanism backs up every record."""
        data = sasl_config(kafka, sasl_topic, tmp_path / "s", mechanism, "${KB_TEST_PW}")
        path = tmp_path / "b.yaml"
        path.write_text(yaml.safe_dump(data))
        result = run_cli("backup", "--config", str(path), "--json", env={"KB_TEST_PW": PASSWORD})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["records"] == 500

    def test_wrong_password_fails_fast_with_auth_error(
        self, kafka: KafkaEndpoint, sasl_topic: str, tmp_path: Path
    ) -> None:
        """A wrong password: KAFKA_AUTH_FAILED, exit 1, the password in no output."""
        wrong = "not-the-Password-77"
        data = sasl_config(kafka, sasl_topic, tmp_path / "s", "SCRAM-SHA-512", wrong)
        path = tmp_path / "b.yaml"
        path.write_text(yaml.safe_dump(data))
        result = run_cli("backup", "--config", str(path), "--log-level", "debug", timeout=60)
        assert result.returncode == 1
        assert one_error_line(result.stderr).startswith("error[KAFKA_AUTH_FAILED]")
        assert wrong not in result.stdout + result.stderr

    def test_password_appears_in_no_output(self, kafka: KafkaEndpoint, sasl_topic: str, tmp_path: Path) -> None:
        """With debug JSON logs (librdkafka's too) and a metrics file, the SASL password appears nowhere."""
        data = sasl_config(kafka, sasl_topic, tmp_path / "s", "PLAIN", PASSWORD)
        data["source"]["client_config"] = {"debug": "security,broker"}  # type: ignore[index]
        path = tmp_path / "b.yaml"
        path.write_text(yaml.safe_dump(data))
        metrics = tmp_path / "m.json"
        result = run_cli(
            "backup", "--config", str(path), "--log-format", "json", "--log-level", "debug",
            "--metrics-output", str(metrics),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(result.stderr.splitlines()) > 20, "expected debug logs to check"
        for line in result.stderr.splitlines():
            json.loads(line)  # every log line is one JSON object
        for text in (result.stdout, result.stderr, metrics.read_text()):
            assert PASSWORD not in text
