"""No secret in any output of any command at debug level, against the real broker (SASL) and real storage servers.

Distinctive secrets are planted in every secret-bearing input: the SASL password (the rig's SASL listener), an SSL
key password, S3 access key / secret / session token (real STS credentials from MinIO, so the token is sent as
``X-Amz-Security-Token`` on every request) once from the config and once from the environment, the Azure account key
(Azurite's), a raw GCS access token, OTLP headers, and credentials in a storage URL. Every command then runs with
``--log-level debug --log-format json`` (botocore, s3fs, urllib3, aiohttp, gcsfs, adlfs and librdkafka included)
and every output it has -- stdout, stderr (the log), the ``--metrics-output`` file, ``--json`` -- is searched for
every secret, raw and percent-encoded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import botocore.session  # type: ignore[import-untyped]  # botocore ships no types
import pytest
import yaml
from confluent_kafka import Producer

from cli.test_backup_cli import one_error_line, run_cli
from rig.kafka import SASL_USERS, KafkaEndpoint, free_port
from rig.storage import AZURITE_KEY, S3_ACCESS_KEY, S3_SECRET_KEY, StorageServer
from rig.tricky import create_topic

OTLP_HEADER = "OtlpHeader-PLANTED-77aa"
GCS_TOKEN = "ya29.GcsToken-PLANTED-0c3f"  # noqa: S105
URL_SECRET = "UrlSecret-PLANTED-91b4"  # noqa: S105
RECORDS = 300
METRICS_COMMANDS = ("backup", "restore", "validate", "drill", "offset-reset")
PLAN = ("offset-reset", "plan")


@dataclass
class Planted:
    """Every planted secret, and the outputs searched so far (for the final count)."""

    values: dict[str, str]
    searched: list[str] = field(default_factory=list)

    def check(self, what: str, *outputs: str) -> None:
        """Fail naming the secret and the output it leaked into."""
        self.searched.append(what)
        for name, value in self.values.items():
            for form in {value, quote(value, safe="")}:
                for index, output in enumerate(outputs):
                    assert form not in output, f"{name} leaked into output {index} of {what}"


def sts_credentials(server: StorageServer) -> dict[str, str]:
    """Temporary credentials from MinIO's STS (AssumeRole with the root user): a real, accepted session token."""
    client = botocore.session.get_session().create_client(
        "sts",
        endpoint_url=server.endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name="us-east-1",
    )
    role = "arn:aws:iam::000000000000:role/leak-test"
    credentials: dict[str, str] = client.assume_role(RoleArn=role, RoleSessionName="leak-test")["Credentials"]
    return {k: credentials[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}


@dataclass
class Setup:
    kafka: KafkaEndpoint
    topic: str
    root: Path
    s3: StorageServer
    s3_url: str
    config_creds: dict[str, str]
    env_creds: dict[str, str]
    planted: Planted
    env: dict[str, str]

    def source(self) -> dict[str, Any]:
        """The SASL listener (the TLS key password is searched for by test_backup_tls, against the mTLS listener)."""
        assert self.kafka.sasl_bootstrap is not None
        return {
            "bootstrap_servers": self.kafka.sasl_bootstrap,
            "connect_timeout_s": 10,
            "security": {
                "protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "alice",
                "sasl_password": SASL_USERS["alice"],
            },
        }

    def storage(self, *, from_env: bool = False, url: str | None = None) -> dict[str, Any]:
        settings: dict[str, Any] = {"endpoint_url": self.s3.endpoint, "connect_timeout": 3}
        if not from_env:
            settings |= {
                "access_key_id": self.config_creds["AccessKeyId"],
                "secret_access_key": self.config_creds["SecretAccessKey"],
                "session_token": self.config_creds["SessionToken"],
            }
        return {"url": url or self.s3_url, "settings": settings}

    def write(self, name: str, data: dict[str, Any]) -> str:
        path = self.root / name
        path.write_text(yaml.safe_dump(data))
        return str(path)

    def run(self, what: str, *args: str, env: dict[str, str] | None = None, code: int = 0) -> str:
        """Run a command at debug level (JSON logs), with a metrics file where the command has the flag; search all
        its outputs; return stdout and stderr."""
        metrics = self.root / f"{uuid.uuid4().hex[:8]}.json"
        flags = ["--metrics-output", str(metrics)] if args[0] in METRICS_COMMANDS and args[:2] != PLAN else []
        # the environment sets the level for every command (list, describe and prune have no --log-level flag)
        logging_env = {"KAFKA_BACKUP_LOG_LEVEL": "debug", "KAFKA_BACKUP_LOG_FORMAT": "json"}
        result = run_cli(*args, *flags, env={**self.env, **logging_env, **(env or {})}, timeout=240)
        assert result.returncode == code, f"{what}: exit {result.returncode}\n{result.stderr[-4000:]}"
        written = metrics.read_text() if metrics.exists() else ""
        assert bool(flags) == bool(written) or code != 0, f"{what}: no metrics file"
        self.planted.check(what, result.stdout, result.stderr, written)
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def setup(kafka: KafkaEndpoint, s3_server: StorageServer, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    if kafka.sasl_bootstrap is None:
        pytest.skip("the external cluster has no SASL listener configured for tests")
    topic = f"leak-{uuid.uuid4().hex[:6]}"
    create_topic(kafka.bootstrap, topic, 2)
    producer = Producer(kafka.client_config())
    for i in range(RECORDS):
        producer.produce(topic, key=str(i).encode(), value=b"payload without secrets")
    assert producer.flush(30) == 0
    config_creds, env_creds = sts_credentials(s3_server), sts_credentials(s3_server)
    values = {
        "sasl password": SASL_USERS["alice"],
        "otlp header": OTLP_HEADER,
        "gcs token": GCS_TOKEN,
        "url secret": URL_SECRET,
        "azure key": AZURITE_KEY,
        **{f"config {k}": v for k, v in config_creds.items()},
        **{f"env {k}": v for k, v in env_creds.items()},
    }
    env = {
        # collector credentials travel in headers; the endpoint refuses, so the exporters fail and log at debug
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {OTLP_HEADER},x-tenant=leak-test",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        # credentials in the environment that this process's commands must not use unless told to
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
    }
    return Setup(
        kafka, topic, tmp_path_factory.mktemp("leaks"), s3_server,
        s3_server.url(s3_server.buckets[0], f"leaks-{uuid.uuid4().hex[:8]}"),
        config_creds, env_creds, Planted(values), env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def backed_up(setup: Setup) -> Setup:
    """A backup over SASL to MinIO with the session token from the config (itself searched)."""
    data = {
        "backup_id": "leaks",
        "source": setup.source(),
        "topics": {"include": [setup.topic]},
        "storage": setup.storage(),
        "segment": {"max_records": 100},
        "session_timeout_ms": 6000,
    }
    out = setup.run("backup", "backup", "--config", setup.write("backup.yaml", data), "--json")
    assert f'"records": {RECORDS}' in out
    # the token was really sent and logged (masked): the search above looked at real header dumps
    assert "X-Amz-Security-Token" in out
    return setup


def restore_job(setup: Setup, target_topic: str) -> dict[str, Any]:
    return {
        "backup_id": "leaks",
        "storage": setup.storage(),
        "target": setup.source(),
        "topic_map": {setup.topic: target_topic},
    }


class TestEveryCommand:
    def test_catalog_commands_with_config_credentials(self, backed_up: Setup) -> None:
        """list, describe, validate --deep and prune (dry run) with the session token from storage.settings."""
        setup = backed_up
        config = setup.write("catalog.yaml", {"backup_id": "leaks", "storage": setup.storage()})
        assert "leaks" in setup.run("list", "list", "--config", config, "--json")
        assert '"records": 300' in setup.run("describe", "describe", "--config", config, "--json")
        setup.run("validate", "validate", "--config", config, "--deep", "--json")
        setup.run("prune", "prune", "--config", config, "--keep-last", "5", "--json")

    def test_catalog_commands_with_environment_credentials(self, backed_up: Setup) -> None:
        """The same commands with the S3 credentials (and session token) only in the environment."""
        setup = backed_up
        config = setup.write("catalog-env.yaml", {"backup_id": "leaks", "storage": setup.storage(from_env=True)})
        env = {
            "AWS_ACCESS_KEY_ID": setup.env_creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": setup.env_creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": setup.env_creds["SessionToken"],
        }
        out = setup.run("list (env)", "list", "--config", config, "--json", env=env)
        assert "leaks" in out
        assert "X-Amz-Security-Token" in out
        setup.run("describe (env)", "describe", "--config", config, "--json", env=env)
        setup.run("validate (env)", "validate", "--config", config, "--json", env=env)
        setup.run("prune (env)", "prune", "--config", config, "--keep-last", "5", "--json", env=env)

    def test_restore_offset_reset_and_drill(self, backed_up: Setup) -> None:
        """restore, offset-reset plan and execute, and drill: SASL target, storage credentials from the config."""
        setup = backed_up
        job = setup.write("restore.yaml", restore_job(setup, f"{setup.topic}-restored"))
        assert f'"records": {RECORDS}' in setup.run("restore", "restore", "--config", job, "--json")
        setup.run("offset-reset plan", "offset-reset", "plan", "--config", job, "--json")
        setup.run("offset-reset execute", "offset-reset", "execute", "--config", job, "--json")
        drill = setup.write("drill.yaml", {"backup_id": "leaks", "storage": setup.storage(), "target": setup.source()})
        setup.run("drill", "drill", "--config", drill, "--json")

    def test_service_started_briefly(self, backed_up: Setup) -> None:
        """The service until its /readyz answers, then SIGTERM: nothing leaks on the way in or out."""
        setup = backed_up
        data = {
            "backup_id": "leaks-service",
            "source": setup.source(),
            "topics": {"include": [setup.topic]},
            "storage": setup.storage(),
            "metrics": {"port": free_port()},
            "session_timeout_ms": 6000,
        }
        config = setup.write("service.yaml", data)
        process = subprocess.Popen(
            [sys.executable, "-m", "kafka_backup.cli", "service", "--config", config, "--log-level", "debug",
             "--log-format", "json"],  # the flags, where the other commands use the environment
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **setup.env},
        )  # fmt: skip
        assert process.stderr is not None
        seen: list[str] = []
        try:
            for line in process.stderr:
                seen.append(line)
                if "serving metrics at" in line:
                    url = line.split("serving metrics at", 1)[1].strip().rsplit("/", 1)[0]
                    break
            else:
                pytest.fail("the service never served metrics:\n" + "".join(seen[-40:]))
            with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:  # noqa: S310 - loopback
                scrape = response.read().decode()
            process.send_signal(signal.SIGTERM)
            stdout, rest = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, "".join(seen[-40:]) + rest[-3000:]
        setup.planted.check("service", stdout, "".join(seen) + rest, scrape)


class TestOtherBackends:
    @staticmethod
    def backup_and_list(setup: Setup, backend: str, storage: dict[str, Any], env: dict[str, str]) -> None:
        """A backup to ``storage`` and a listing of it, both searched."""
        data = {
            "backup_id": f"leaks-{backend}",
            "source": setup.source(),
            "topics": {"include": [setup.topic]},
            "storage": storage,
        }
        config = setup.write(f"{backend}.yaml", data)
        setup.run(f"backup ({backend})", "backup", "--config", config, "--json", env=env)
        assert f"leaks-{backend}" in setup.run(f"list ({backend})", "list", "--config", config, "--json", env=env)

    def test_azure_account_key(self, backed_up: Setup, azure_server: StorageServer) -> None:
        """A backup and a listing on Azurite, its account key from the environment."""
        storage = {
            "url": azure_server.url(azure_server.buckets[0], f"leaks-{uuid.uuid4().hex[:8]}"),
            "settings": {"endpoint_url": azure_server.blob_endpoint, "azure_account_name": "devstoreaccount1"},  # type: ignore[attr-defined]
        }
        self.backup_and_list(backed_up, "azure", storage, {"AZURE_STORAGE_ACCOUNT_KEY": AZURITE_KEY})

    def test_gcs_raw_token(self, backed_up: Setup, gcs_server: StorageServer) -> None:
        """A backup and a listing on fake-gcs-server with a raw access token (sent as a bearer token)."""
        storage = {
            "url": gcs_server.url(gcs_server.buckets[0], f"leaks-{uuid.uuid4().hex[:8]}"),
            "settings": {"endpoint_url": gcs_server.endpoint, "gcs_token": GCS_TOKEN},
        }
        # gcsfs would ask Google for the raw token's expiry; the emulator takes any token
        self.backup_and_list(backed_up, "gcs", storage, {"FETCH_RAW_TOKEN_EXPIRY": "false"})


class TestUrlCredentials:
    def test_refused_without_echo(self, setup: Setup) -> None:
        """Credentials in a storage URL: exit 2, one error line, the secret nowhere (flag and config alike)."""
        url = setup.s3_url.replace("s3://", f"s3://AKIAURLKEY:{URL_SECRET}@")
        out = setup.run("list (url credentials)", "list", "--storage-url", url, code=2)
        assert one_error_line(out).startswith("error[CONFIG_INVALID]")
        data = {"backup_id": "x", "source": setup.source(), "storage": {"url": url}}
        out = setup.run("backup (url credentials)", "backup", "--config", setup.write("url.yaml", data), code=2)
        assert "credentials" in one_error_line(out)
