"""The backup configuration: one YAML file, validated by pydantic models.

Rules every model follows:
- unknown keys are errors; the message names the key and suggests the closest valid one;
- ``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) in any string value is replaced from the environment after parsing,
  so secrets can stay out of the file; a missing variable is an error naming it;
- secrets are ``SecretStr``: they never appear in ``repr``, logs or error messages.

``docs/config.md`` is generated from these models (:func:`kafka_backup.engine.config_doc.render`), and a test fails
when it drifts.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.store.options import StorageSettings

if TYPE_CHECKING:
    from kafka_backup.engine.store import RetryPolicy, Store
    from kafka_backup.telemetry.catalog import Metrics

_M = TypeVar("_M", bound=BaseModel)
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SecurityConfig(_Model):
    """How to authenticate to the cluster."""

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
    ssl_ca_location: str | None = Field(None, description="CA certificate file (PEM) to verify the brokers.")
    ssl_certificate_location: str | None = Field(None, description="Client certificate (PEM) for mTLS.")
    ssl_key_location: str | None = Field(None, description="Client private key (PEM) for mTLS.")
    ssl_key_password: SecretStr | None = Field(None, description="Password of the client private key.")
    ssl_endpoint_identification: bool = Field(True, description="Verify the broker host name against its certificate.")


class KafkaConfig(_Model):
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
        """Secret values, for the log redaction step."""
        sec = self.security
        return [s.get_secret_value() for s in (sec.sasl_password, sec.ssl_key_password) if s is not None]


class TopicSelection(_Model):
    """Which topics to back up. Patterns are globs (`orders.*`, `logs-?`) or regexes prefixed with `re:`."""

    include: list[str] = Field(default_factory=lambda: ["*"], description="Topics to back up (at least one match).")
    exclude: list[str] = Field(default_factory=list, description="Topics to leave out, applied after `include`.")
    include_internal: bool = Field(False, description="Also back up internal topics (names starting with `__`).")


class StorageConfig(_Model):
    """Where backups live, and how to reach them: `settings` (or the environment), or raw fsspec `options`."""

    url: str = Field("file://./backups", description="fsspec URL: `file://`, `s3://`, `gs://` or `az://`.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec storage options (credentials, endpoint_url, ...); values are treated as secrets in logs.",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        repr=False,
        description=(
            "How to reach the storage when `options` is empty (see docs/storage.md): `endpoint_url`, `region`, "
            "`path_style`, `anonymous`, `access_key_id`, `secret_access_key`, `session_token`, `profile`, "
            "`gcs_token`, `gcs_project`, `azure_connection_string`, `azure_account_name`, `azure_account_key`, "
            "`azure_sas_token`, `connect_timeout`, `read_timeout`, `extra`; unset values come from the standard "
            "environment and credential chains. Keys, tokens and connection strings are secrets."
        ),
    )

    @field_validator("settings")
    @classmethod
    def _valid_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            StorageSettings.from_mapping(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _options_or_settings(self) -> StorageConfig:
        if self.options and self.settings:
            raise ValueError("give either storage.options (raw fsspec options) or storage.settings, not both")
        return self

    def storage_settings(self) -> StorageSettings | None:
        """The validated settings (None when the section is empty: environment and default chains only)."""
        return StorageSettings.from_mapping(self.settings) if self.settings else None

    def open(
        self,
        *,
        metrics: Metrics | None = None,
        backup_id: str = "",
        retry: RetryPolicy | None = None,
        on_retry: Callable[[str, BaseException], None] | None = None,
    ) -> Store:
        """The store at :attr:`url`: ``options`` as given, else built from ``settings`` and the environment."""
        from kafka_backup.engine.store import open_store  # noqa: PLC0415 - keeps fsspec out of config-only imports

        return open_store(
            self.url,
            self.options or None,
            metrics=metrics,
            backup_id=backup_id,
            retry=retry,
            on_retry=on_retry,
            settings=self.storage_settings(),
        )

    def secrets(self) -> list[str]:
        values = [str(v) for v in self.options.values() if isinstance(v, str) and len(v) >= 4]
        for name in StorageSettings.secret_names():
            value = self.settings.get(name)
            if isinstance(value, Mapping):
                values += [str(v) for v in value.values() if isinstance(v, str) and len(v) >= 4]
            elif isinstance(value, str) and len(value) >= 4:
                values.append(value)
        return values


class CompressionConfig(_Model):
    """Parquet compression codec of the segments."""

    codec: Literal["zstd", "lz4", "snappy", "none"] = Field("zstd", description="Compression codec.")
    level: int | None = Field(
        1,
        description=(
            "Codec level (zstd: 1-22; 1 keeps about 98% of level 3's ratio on event data at 1.45x the speed); "
            "ignored by codecs without levels."
        ),
    )


class SegmentConfig(_Model):
    """When to close a segment and start the next one (whichever limit is reached first)."""

    max_bytes: int = Field(128 * 1024 * 1024, gt=0, description="Uncompressed record bytes per segment.")
    max_records: int = Field(1_000_000, gt=0, description="Records per segment.")
    max_age_s: float = Field(60.0, gt=0, description="Seconds a segment stays open (bounds data at risk).")


class ConsumerGroupSelection(_Model):
    """Which consumer groups' committed offsets to capture with the backup."""

    capture: bool = Field(True, description="Capture consumer-group offsets at backup time.")
    include: list[str] = Field(default_factory=lambda: ["*"], description="Group patterns (glob or `re:` regex).")
    exclude: list[str] = Field(default_factory=list, description="Groups to leave out.")


class MetricsConfig(_Model):
    """The Prometheus endpoint (always on in service mode; on demand for one-shot commands)."""

    enabled: bool = Field(False, description="Serve /metrics, /healthz and /readyz during one-shot runs.")
    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8080, ge=0, le=65535, description="Bind port (0 picks a free one).")
    path: str = Field("/metrics", description="Path of the metrics endpoint.")
    update_interval_ms: int = Field(500, gt=0, description="How often lag and throughput gauges are refreshed.")


class BackupConfig(_Model):
    """A backup job."""

    backup_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")] = Field(
        description="Names the backup at the storage URL; workers with the same id share the work."
    )
    source: KafkaConfig = Field(description="The cluster to back up.")
    topics: TopicSelection = Field(default_factory=TopicSelection, description="Topic selection.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Storage location.")
    compression: CompressionConfig = Field(default_factory=CompressionConfig, description="Segment compression.")
    segment: SegmentConfig = Field(default_factory=SegmentConfig, description="Segment roll limits.")
    mode: Literal["snapshot", "continuous"] = Field(
        "snapshot",
        description="`snapshot`: stop at the end offsets captured at start; `continuous`: run until stopped.",
    )
    isolation: Literal["read_committed", "read_uncommitted"] = Field(
        "read_committed", description="Transactional isolation of the consumer."
    )
    consumer_groups: ConsumerGroupSelection = Field(
        default_factory=ConsumerGroupSelection, description="Consumer-group offsets to capture."
    )
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Metrics endpoint.")
    session_timeout_ms: int = Field(
        10_000, ge=1000, description="Group session timeout: how soon a dead worker's partitions move to another."
    )
    shutdown_timeout_s: float = Field(30.0, gt=0, description="Bound on flushing open segments after SIGTERM/SIGINT.")

    def secrets(self) -> list[str]:
        return [*self.source.secrets(), *self.storage.secrets()]


# ---- loading ---------------------------------------------------------------------------------------------------


def expand_env(value: Any, environ: Mapping[str, str] | None = None, where: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string inside ``value``."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"environment variable {name} is not set (used at {where or 'top level'})",
                hint=f"export {name}=... or write ${{{name}:-default}}",
            )

        return _ENV_PATTERN.sub(substitute, value)
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the field at ``loc`` (for key suggestions)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return current
        annotation = current.model_fields[part].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return current


def format_validation_error(error: ValidationError, model: type[BaseModel], source: str) -> ConfigError:
    """One clear line for the first problem (a config file usually has one typo at a time)."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        valid = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(valid)}"
        return ConfigError(f"{source}: unknown key '{path}'", hint=hint)
    if first["type"] == "missing":
        return ConfigError(f"{source}: missing required key '{path}'")
    message = first["msg"]
    return ConfigError(f"{source}: invalid value at '{path}': {message}")


def parse_config(model: type[_M], data: Any, source: str = "config", environ: Mapping[str, str] | None = None) -> _M:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}")
    expanded = expand_env(data, environ)
    try:
        return model.model_validate(expanded)
    except ValidationError as exc:
        raise format_validation_error(exc, model, source) from None


def load_yaml(path: str | Path) -> Any:
    file = Path(path)
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {file} does not exist", hint="pass --config PATH to an existing YAML file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {file} cannot be read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {file} is not valid YAML{where}") from None


def load_config(model: type[_M], path: str | Path, environ: Mapping[str, str] | None = None) -> _M:
    return parse_config(model, load_yaml(path), str(path), environ)
