"""TLS against the real broker's SSL and mTLS listeners: backup and restore round trips, fast failures with their
own codes, and TLS files checked before any connection is made."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from cli.test_backup_cli import one_error_line, run_cli
from engine.backup_helpers import backup_config
from engine.restore_support import content, make_backup, numbered_topic, read_topic
from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.config.base import parse_config
from kafka_backup.engine.config.restore import RestoreConfig
from kafka_backup.engine.errors import ConfigError
from rig.kafka import KafkaEndpoint
from rig.tls import KEY_PASSWORD, TlsFiles, generate

Mode = Literal["ssl", "mtls", "mtls-encrypted-key"]
PW_ENV = {"KB_TEST_KEY_PW": KEY_PASSWORD}
NEVER_S = 3600
"""A connect timeout far beyond the CLI's subprocess timeout: a failure reported only at the connect timeout makes
the test fail (the subprocess is killed) without the test measuring wall-clock time."""


def tls_target(kafka: KafkaEndpoint, mode: Mode) -> tuple[str, dict[str, Any]]:
    """The bootstrap of the listener ``mode`` needs, and a security section that passes it."""
    tls = kafka.tls
    if tls is None or kafka.ssl_bootstrap is None or kafka.mtls_bootstrap is None:
        pytest.skip("the external cluster has no TLS listeners configured for tests")
    if mode == "ssl":
        return kafka.ssl_bootstrap, {"protocol": "SSL", "ssl_ca_location": str(tls.ca)}
    client = {"protocol": "SSL", "ssl_ca_location": str(tls.ca), "ssl_certificate_location": str(tls.client_cert)}
    if mode == "mtls":
        return kafka.mtls_bootstrap, {**client, "ssl_key_location": str(tls.client_key)}
    key = {"ssl_key_location": str(tls.client_key_encrypted), "ssl_key_password": "${KB_TEST_KEY_PW}"}
    return kafka.mtls_bootstrap, {**client, **key}


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def backup_yaml(tmp_path: Path, bootstrap: str, topic: str, security: dict[str, Any], **source: Any) -> Path:
    data = backup_config(bootstrap, "tls", tmp_path / "s", [topic])
    data["source"].update({"security": security, **source})
    return write_yaml(tmp_path / "backup.yaml", data)


def restore_yaml(tmp_path: Path, bootstrap: str, security: dict[str, Any], **extra: Any) -> Path:
    target = {"bootstrap_servers": bootstrap, "connect_timeout_s": 10, "security": security}
    data = {"backup_id": "tls", "storage": {"url": f"file://{tmp_path / 's'}"}, **extra}
    data["target"] = {**target, **data.get("target", {})}
    return write_yaml(tmp_path / "restore.yaml", data)


@pytest.fixture
def silent_port() -> Iterator[socket.socket]:
    """A listening socket nothing answers on: a connection attempt stays in its accept queue, so a test can prove
    that a command made none."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock


def assert_never_connected(sock: socket.socket) -> None:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return
    conn.close()
    raise AssertionError("the command connected to the cluster before reporting the config error")


def port_of(sock: socket.socket) -> str:
    return f"127.0.0.1:{sock.getsockname()[1]}"


class TestTlsRoundTrip:
    @pytest.mark.parametrize("mode", ["ssl", "mtls", "mtls-encrypted-key"])
    def test_backup_and_restore_over_tls(self, kafka: KafkaEndpoint, tmp_path: Path, mode: Mode) -> None:
        """Backup and restore both through the TLS listener (host name verified): the restored topic holds the
        source's records, in order per partition; the key password appears in no output, even at debug level."""
        bootstrap, security = tls_target(kafka, mode)
        topic = numbered_topic(kafka.bootstrap, "tls", 600)
        debug = ["--log-level", "debug"] if mode == "mtls-encrypted-key" else []
        config = backup_yaml(tmp_path, bootstrap, topic, security)
        backup = run_cli("backup", "--config", str(config), "--json", *debug, env=PW_ENV)
        assert backup.returncode == 0, backup.stderr
        assert json.loads(backup.stdout.splitlines()[-1])["records"] == 600
        restored = f"{topic}-restored"
        config = restore_yaml(tmp_path, bootstrap, security, topic_map={topic: restored})
        restore = run_cli("restore", "--config", str(config), "--json", "--no-progress", *debug, env=PW_ENV)
        assert restore.returncode == 0, restore.stderr
        assert json.loads(restore.stdout.splitlines()[-1])["records"] == 600
        assert content(read_topic(kafka.bootstrap, restored)) == content(read_topic(kafka.bootstrap, topic))
        for output in (backup.stdout, backup.stderr, restore.stdout, restore.stderr):
            assert KEY_PASSWORD not in output


@pytest.fixture
def small_backup(kafka: KafkaEndpoint, tmp_path: Path) -> str:
    """A backup ``tls`` at ``tmp_path/s`` (made over PLAINTEXT), so a restore gets as far as the cluster."""
    topic = numbered_topic(kafka.bootstrap, "tlsfail", 20)
    make_backup(kafka.bootstrap, tmp_path / "s", "tls", [topic])
    return topic


def run_failing(command: str, tmp_path: Path, topic: str, bootstrap: str, security: dict[str, Any]) -> str:
    """Run ``command`` against ``bootstrap`` with a connect timeout it must not wait for; its one error line."""
    if command == "backup":
        config = backup_yaml(tmp_path, bootstrap, topic, security, connect_timeout_s=NEVER_S)
    else:
        config = restore_yaml(tmp_path, bootstrap, security, target={"connect_timeout_s": NEVER_S},
                              topic_map={topic: f"{topic}-r"})  # fmt: skip
    flags = ["--no-progress"] if command == "restore" else []
    result = run_cli(command, "--config", str(config), *flags, env=PW_ENV, timeout=120)
    assert result.returncode == 1, result.stderr
    return one_error_line(result.stderr)


@pytest.mark.parametrize("command", ["backup", "restore"])
class TestTlsFailsFast:
    def test_wrong_ca_is_a_tls_error(
        self, kafka: KafkaEndpoint, small_backup: str, tmp_path: Path, command: str
    ) -> None:
        """A CA that did not sign the broker's certificate: KAFKA_TLS_FAILED naming ssl_ca_location, exit 1, long
        before the connect timeout."""
        bootstrap, security = tls_target(kafka, "ssl")
        assert kafka.tls is not None
        line = run_failing(
            command, tmp_path, small_backup, bootstrap, {**security, "ssl_ca_location": str(kafka.tls.wrong_ca)}
        )
        assert line.startswith("error[KAFKA_TLS_FAILED]: cannot verify the certificate of the brokers"), line
        assert "security.ssl_ca_location" in line

    def test_missing_client_certificate_is_an_auth_error(
        self, kafka: KafkaEndpoint, small_backup: str, tmp_path: Path, command: str
    ) -> None:
        """The mTLS listener without a client certificate: KAFKA_AUTH_FAILED naming ssl_certificate_location, exit 1,
        long before the connect timeout."""
        _, security = tls_target(kafka, "ssl")  # the CA only: what works on the plain SSL listener
        assert kafka.mtls_bootstrap is not None
        line = run_failing(command, tmp_path, small_backup, kafka.mtls_bootstrap, security)
        assert line.startswith("error[KAFKA_AUTH_FAILED]: the brokers at"), line
        assert "refused the client certificate" in line and "security.ssl_certificate_location" in line

    def test_client_certificate_of_another_ca_is_an_auth_error(
        self, kafka: KafkaEndpoint, small_backup: str, tmp_path: Path, command: str
    ) -> None:
        """A client certificate the broker's CA did not sign is refused like a missing one (KAFKA_AUTH_FAILED)."""
        _, security = tls_target(kafka, "mtls")
        assert kafka.tls is not None and kafka.mtls_bootstrap is not None
        rogue = {"ssl_certificate_location": str(kafka.tls.rogue_client_cert),
                 "ssl_key_location": str(kafka.tls.rogue_client_key)}  # fmt: skip
        line = run_failing(command, tmp_path, small_backup, kafka.mtls_bootstrap, {**security, **rogue})
        assert line.startswith("error[KAFKA_AUTH_FAILED]"), line


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A trust domain of its own (no broker needed to check config validation)."""
    return generate(tmp_path_factory.mktemp("tls"))


def security_of(**security: Any) -> dict[str, Any]:
    return {"backup_id": "b", "source": {"bootstrap_servers": "127.0.0.1:9", "security": security}}


class TestTlsFilesChecked:
    @pytest.mark.parametrize(
        ("case", "message"),
        [
            ("missing CA", r"ssl_ca_location': .*/nope/ca.pem does not exist \(fix the path"),
            ("certificate is a directory", r"ssl_certificate_location': .* is a directory, not a file"),
            ("key is a FIFO", r"ssl_key_location': .* is not a regular file"),
            ("empty key", r"ssl_key_location': .* is not PEM"),
            ("CA is a Java key store", r"ssl_ca_location': .* is not PEM .*keytool or openssl"),
            ("certificate without key", r"ssl_certificate_location and ssl_key_location go together"),
            ("password without key", r"ssl_key_password is set without ssl_key_location"),
            ("TLS files with PLAINTEXT", r"ssl_ca_location set, but protocol PLAINTEXT does not use TLS"),
        ],
    )
    def test_unusable_tls_settings_are_config_errors(
        self, tls_files: TlsFiles, tmp_path: Path, case: str, message: str
    ) -> None:
        """Each unusable TLS file or combination is a ConfigError naming the key and the fix (never a hang: the
        FIFO is stat-ed, not opened)."""
        good = {"protocol": "SSL", "ssl_certificate_location": str(tls_files.client_cert),
                "ssl_key_location": str(tls_files.client_key)}  # fmt: skip
        fifo, empty, jks = tmp_path / "fifo", tmp_path / "empty.pem", tmp_path / "truststore.jks"
        os.mkfifo(fifo)
        empty.write_bytes(b"")
        jks.write_bytes(b"\xfe\xed\xfe\xed\x00\x00\x00\x02")  # the magic of a JKS file
        security = {
            "missing CA": {**good, "ssl_ca_location": str(tmp_path / "nope" / "ca.pem")},
            "certificate is a directory": {**good, "ssl_certificate_location": str(tmp_path)},
            "key is a FIFO": {**good, "ssl_key_location": str(fifo)},
            "empty key": {**good, "ssl_key_location": str(empty)},
            "CA is a Java key store": {**good, "ssl_ca_location": str(jks)},
            "certificate without key": {"protocol": "SSL", "ssl_certificate_location": str(tls_files.client_cert)},
            "password without key": {"protocol": "SSL", "ssl_key_password": "x"},
            "TLS files with PLAINTEXT": {"protocol": "PLAINTEXT", "ssl_ca_location": str(tls_files.ca)},
        }[case]
        with pytest.raises(ConfigError, match=message):
            parse_config(BackupConfig, security_of(**security), "b.yaml")

    def test_usable_settings_reach_librdkafka_and_the_password_is_a_secret(self, tls_files: TlsFiles) -> None:
        """A CA directory, a certificate, an encrypted key and its password pass, map to librdkafka's keys, and
        the password is among the secrets to redact and absent from repr."""
        security = {
            "protocol": "SSL",
            "ssl_ca_location": str(tls_files.ca.parent),
            "ssl_certificate_location": str(tls_files.client_cert),
            "ssl_key_location": str(tls_files.client_key_encrypted),
            "ssl_key_password": "${PW}",
        }
        cfg = parse_config(BackupConfig, security_of(**security), environ={"PW": KEY_PASSWORD})
        conf = cfg.source.librdkafka()
        assert conf["ssl.ca.location"] == str(tls_files.ca.parent)
        assert conf["ssl.certificate.location"] == str(tls_files.client_cert)
        assert conf["ssl.key.location"] == str(tls_files.client_key_encrypted)
        assert conf["ssl.key.password"] == KEY_PASSWORD
        assert conf["ssl.endpoint.identification.algorithm"] == "https"
        assert KEY_PASSWORD in cfg.secrets() and KEY_PASSWORD not in repr(cfg)
        probe = parse_config(BackupConfig, security_of(protocol="SSL", ssl_ca_location="probe"))
        assert probe.source.librdkafka()["ssl.ca.location"] == "probe"
        off = parse_config(BackupConfig, security_of(protocol="SSL", ssl_endpoint_identification=False))
        assert off.source.librdkafka()["ssl.endpoint.identification.algorithm"] == "none"

    @pytest.mark.parametrize("command", ["backup", "restore"])
    def test_missing_file_exits_2_before_any_connection(
        self, tls_files: TlsFiles, tmp_path: Path, silent_port: socket.socket, command: str
    ) -> None:
        """A missing CA file through the CLI: exit 2, one line naming the key and the path, no traceback, and no
        connection attempt on the configured bootstrap."""
        security = {"protocol": "SSL", "ssl_ca_location": str(tmp_path / "missing-ca.pem")}
        if command == "backup":
            config = backup_yaml(tmp_path, port_of(silent_port), "t", security)
        else:
            config = restore_yaml(tmp_path, port_of(silent_port), security)
        result = run_cli(command, "--config", str(config), timeout=60)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result.stderr)
        assert line.startswith("error[CONFIG_INVALID]: ") and "security.ssl_ca_location" in line
        assert "missing-ca.pem does not exist (fix the path" in line
        assert_never_connected(silent_port)

    def test_wrong_key_password_exits_2_before_any_connection(
        self, tls_files: TlsFiles, tmp_path: Path, silent_port: socket.socket
    ) -> None:
        """An encrypted key with the wrong password (OpenSSL refuses it when the client is created): exit 2 naming
        ssl_key_password, no connection attempt, and neither password in the output."""
        wrong = "not-the-Key-Pass-03"
        security = {"protocol": "SSL", "ssl_ca_location": str(tls_files.ca),
                    "ssl_certificate_location": str(tls_files.client_cert),
                    "ssl_key_location": str(tls_files.client_key_encrypted), "ssl_key_password": wrong}  # fmt: skip
        config = backup_yaml(tmp_path, port_of(silent_port), "t", security)
        result = run_cli("backup", "--config", str(config), "--log-level", "debug", timeout=60)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result.stderr)
        assert line.startswith("error[CONFIG_INVALID]: ") and "the client private key cannot be loaded" in line, line
        assert "security.ssl_key_password" in line
        assert wrong not in result.stdout + result.stderr and KEY_PASSWORD not in result.stdout + result.stderr
        assert_never_connected(silent_port)


def test_restore_config_checks_target_tls_files(tmp_path: Path) -> None:
    """The restore's target section gets the same TLS file checks as the backup's source."""
    data = {"backup_id": "b", "target": {"bootstrap_servers": "x:1",
            "security": {"protocol": "SSL", "ssl_key_location": str(tmp_path / "k.pem")}}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"target.security.ssl_key_location': .*k.pem does not exist"):
        parse_config(RestoreConfig, data, "r.yaml")
