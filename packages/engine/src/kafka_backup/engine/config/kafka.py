"""The Kafka connection section (``source`` of a backup, ``target`` of a restore or drill): brokers, security
(SASL, TLS files), pass-through librdkafka settings and timeouts.

Invariant: a parsed :class:`KafkaConfig` is one librdkafka accepts (checked offline, without connecting, by
:mod:`kafka_backup.engine.kafka.client_check`), and every TLS file it names was readable PEM at parse time.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from kafka_backup.engine.config.base import ConfigModel, invalid
from kafka_backup.engine.kafka.client_check import client_config_problem, explain_client_problem

# librdkafka settings whose values are credentials
_SECRET_CLIENT_SETTING = re.compile(r"password|secret|token|ssl\.key\.pem|sasl\.oauthbearer\.config", re.IGNORECASE)
_BROKER = re.compile(r"(?:[A-Za-z_]+://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:,/\[\]]+):(\d{1,5})")

_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
_PEM_SCAN_BYTES = 1 << 20  # certificates and keys are a few KB; a bundle of every public root CA is ~200 KB


def _unusable_pem(path: Path, *, directory_ok: bool) -> str | None:
    """Why ``path`` cannot be read as a PEM file (or, with ``directory_ok``, a CA directory); None when it can.

    Stat before open, so a FIFO or device named by mistake is reported instead of blocking the read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if stat.S_ISDIR(info.st_mode):
        return None if directory_ok else "is a directory, not a file"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    try:
        with path.open("rb") as file:
            head = file.read(_PEM_SCAN_BYTES)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if b"-----BEGIN " not in head:
        return "is not PEM (no '-----BEGIN' line; convert a JKS/PKCS#12/DER file with keytool or openssl)"
    return None


class SecurityConfig(ConfigModel):
    """How to authenticate to the cluster, and how to encrypt and verify the connection (TLS).

    Invariant: every TLS file named here existed, was readable and looked like PEM when the configuration was
    parsed, and certificate and key come as a pair; so a typo fails as a config error before any connection, not
    as an OpenSSL error string from librdkafka (or, for a certificate without its key, as a silent plain-TLS
    connection the broker then refuses)."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism, required with SASL_PLAINTEXT / SASL_SSL."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        None, description="SASL password; use `${ENV_VAR}` to keep it out of the file."
    )
    ssl_ca_location: str | None = Field(
        None,
        description=(
            "CA certificate(s) (PEM file, or a directory of them) that signed the brokers' certificates; "
            "unset: the system's trust store. Relative paths are resolved from the working directory."
        ),
    )
    ssl_certificate_location: str | None = Field(
        None, description="Client certificate (PEM) for mTLS; needs `ssl_key_location`."
    )
    ssl_key_location: str | None = Field(None, description="Client private key (PEM) for mTLS.")
    ssl_key_password: SecretStr | None = Field(
        None, description="Password of an encrypted `ssl_key_location`; use `${ENV_VAR}` to keep it out of the file."
    )
    ssl_endpoint_identification: bool = Field(
        True, description="Verify that the broker's certificate names the host connected to (SAN); keep it on."
    )

    @field_validator("ssl_ca_location", "ssl_certificate_location", "ssl_key_location")
    @classmethod
    def _readable_pem(cls, value: str | None, info: ValidationInfo) -> str | None:
        is_ca = info.field_name == "ssl_ca_location"
        if value is None or (is_ca and value == "probe"):  # librdkafka's "probe": search the usual system paths
            return value
        problem = _unusable_pem(Path(value), directory_ok=is_ca)
        if problem:
            raise invalid(f"{value} {problem}", "fix the path of this PEM file")
        return value

    @model_validator(mode="after")
    def _tls_settings_consistent(self) -> SecurityConfig:
        given = [
            name
            for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "ssl_key_password")
            if getattr(self, name) is not None
        ]
        if given and self.protocol not in _TLS_PROTOCOLS:
            raise invalid(
                f"{', '.join(given)} set, but protocol {self.protocol} does not use TLS",
                "set protocol: SSL or SASL_SSL, or remove them",
            )
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise invalid("ssl_certificate_location and ssl_key_location go together", "give both for mTLS, or neither")
        if self.ssl_key_password is not None and self.ssl_key_location is None:
            raise invalid("ssl_key_password is set without ssl_key_location", "name the encrypted key, or remove it")
        return self

    @model_validator(mode="after")
    def _sasl_complete(self) -> SecurityConfig:
        sasl = self.protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism is None:
            raise invalid(
                f"protocol {self.protocol} needs sasl_mechanism",
                "set security.sasl_mechanism to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
            )
        if sasl and (self.sasl_username is None or self.sasl_password is None):
            raise invalid(
                f"protocol {self.protocol} needs sasl_username and sasl_password",
                "set both (the password as ${ENV_VAR} to keep it out of the file)",
            )
        if not sasl and self.sasl_mechanism is not None:
            raise invalid(
                f"sasl_mechanism is set but protocol is {self.protocol}, so SASL would not be used",
                "set security.protocol to SASL_SSL (or SASL_PLAINTEXT), or remove sasl_mechanism",
            )
        return self


class KafkaConfig(ConfigModel):
    """A Kafka cluster to read from (backup) or write to (restore)."""

    bootstrap_servers: str = Field(description="Comma-separated `host:port` list.")
    security: SecurityConfig = Field(default_factory=SecurityConfig, description="Authentication and encryption.")
    client_config: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Any other librdkafka setting, passed through as is (dotted keys)."
    )
    connect_timeout_s: float = Field(15.0, gt=0, description="Fail with KAFKA_CONNECTION_FAILED after this long.")
    outage_tolerance_s: float = Field(
        180.0,
        gt=0,
        description=(
            "Once the cluster was reached, how long a run rides out its being unavailable (broker restarts, stalls, "
            "leaders moving): Kafka calls and client errors are retried with exponential backoff for up to this many "
            "seconds per outage, then the run fails with KAFKA_UNAVAILABLE."
        ),
    )

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _join_list(cls, value: object) -> object:
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for entry in value.split(","):
            match = _BROKER.fullmatch(entry.strip())
            port = int(match.group(1)) if match else 0
            if not 0 < port < 65536:
                raise invalid(
                    f"{entry.strip()!r} is not HOST:PORT",
                    "write a comma-separated host:port list, e.g. kafka-1:9092,kafka-2:9092",
                )
        return value

    @model_validator(mode="after")
    def _librdkafka_accepts(self) -> KafkaConfig:
        problem = client_config_problem(self.librdkafka())
        if problem:
            for secret in self.secrets():
                problem = problem.replace(secret, "***")
            explained = explain_client_problem(problem)
            if explained is not None:
                raise invalid(*explained)
            raise invalid(f"librdkafka rejects the client settings: {problem}", "fix client_config or security")
        return self

    def librdkafka(self) -> dict[str, str | int | float | bool]:
        """The librdkafka configuration (with secrets in clear: only ever handed to the client)."""
        sec = self.security
        conf: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": sec.protocol,
            "socket.connection.setup.timeout.ms": int(self.connect_timeout_s * 1000),
            # cloud brokers drop idle connections; keep them alive rather than erroring on the next request
            "socket.keepalive.enable": True,
            # KIP-714 client metrics push has known bugs; off unless asked for in client_config
            "enable.metrics.push": False,
        }
        optional: dict[str, str | None] = {
            "sasl.mechanism": sec.sasl_mechanism,
            "sasl.username": sec.sasl_username,
            "sasl.password": sec.sasl_password.get_secret_value() if sec.sasl_password else None,
            "ssl.ca.location": sec.ssl_ca_location,
            "ssl.certificate.location": sec.ssl_certificate_location,
            "ssl.key.location": sec.ssl_key_location,
            "ssl.key.password": sec.ssl_key_password.get_secret_value() if sec.ssl_key_password else None,
        }
        conf.update({k: v for k, v in optional.items() if v is not None})
        if sec.protocol in ("SSL", "SASL_SSL"):
            conf["ssl.endpoint.identification.algorithm"] = "https" if sec.ssl_endpoint_identification else "none"
        conf.update(self.client_config)
        return conf

    def secrets(self) -> list[str]:
        """Secret values, for the log redaction step: the security section's and secret-looking client_config
        values (``sasl.oauthbearer.client.secret``, ``ssl.key.pem``, ``ssl.keystore.password``)."""
        sec = self.security
        values = [s.get_secret_value() for s in (sec.sasl_password, sec.ssl_key_password) if s is not None]
        values += [str(v) for k, v in self.client_config.items() if _SECRET_CLIENT_SETTING.search(k)]
        return values
