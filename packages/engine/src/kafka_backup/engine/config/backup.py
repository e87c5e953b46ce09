"""The backup configuration: one YAML file, validated by pydantic models.

Rules every model follows:
- unknown keys are errors; the message names the key and suggests the closest valid one;
- ``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) in any string value is replaced from the environment after parsing,
  so secrets can stay out of the file; a missing variable is an error naming it;
- secrets are ``SecretStr``: they never appear in ``repr``, logs or error messages.

``docs/config.md`` is generated from these models (:func:`kafka_backup.engine.config.doc.render`), and a test fails
when it drifts.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kafka_backup.engine.config.names import Id, Patterns
from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.kafka.client_check import client_config_problem, explain_client_problem
from kafka_backup.engine.store.options import StorageSettings, check_url, credential_values, reject_url_credentials

if TYPE_CHECKING:
    from kafka_backup.engine.store import RetryPolicy, Store
    from kafka_backup.telemetry.catalog import Metrics

_M = TypeVar("_M", bound=BaseModel)
# librdkafka settings whose values are credentials
_SECRET_CLIENT_SETTING = re.compile(r"password|secret|token|ssl\.key\.pem|sasl\.oauthbearer\.config", re.IGNORECASE)
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BROKER = re.compile(r"(?:[A-Za-z_]+://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:,/\[\]]+):(\d{1,5})")
ZSTD_MAX_LEVEL = 22


def invalid(problem: str, hint: str) -> PydanticCustomError:
    """A validation error whose one-line message carries a fix (``hint``), as every config error should."""
    return PydanticCustomError("kafka_backup", "{problem}", {"problem": problem, "hint": hint})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


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


class SecurityConfig(_Model):
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


class TopicSelection(_Model):
    """Which topics to back up. Patterns are globs (`orders.*`, `logs-?`) or regexes prefixed with `re:`."""

    include: Patterns = Field(default_factory=lambda: ["*"], description="Topics to back up (at least one match).")
    exclude: Patterns = Field(default_factory=list, description="Topics to leave out, applied after `include`.")
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

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        try:
            reject_url_credentials(value)
            check_url(value)
        except ConfigError as exc:
            raise invalid(exc.message, exc.hint or "") from None
        return value

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

    def secrets(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Credentials for the log redaction step: every string in raw ``options``, the secret ``settings`` and the
        storage credentials in the environment (``environ``, default ``os.environ``), which botocore and the Azure
        SDK read themselves and would otherwise send (and log at debug) unregistered."""
        values = [str(v) for v in self.options.values() if isinstance(v, str)]
        values += credential_values(self.storage_settings(), environ)
        return [v for v in values if len(v) >= 4]


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

    @field_validator("level")
    @classmethod
    def _level_in_range(cls, level: int | None, info: ValidationInfo) -> int | None:
        if info.data.get("codec") == "zstd" and level is not None and not 1 <= level <= ZSTD_MAX_LEVEL:
            raise invalid(f"zstd level {level} is out of range", f"use 1-{ZSTD_MAX_LEVEL}; 1 is the default")
        return level


class SegmentConfig(_Model):
    """When to close a segment and start the next one (whichever limit is reached first)."""

    max_bytes: int = Field(128 * 1024 * 1024, gt=0, description="Uncompressed record bytes per segment.")
    max_records: int = Field(1_000_000, gt=0, description="Records per segment.")
    max_age_s: float = Field(60.0, gt=0, description="Seconds a segment stays open (bounds data at risk).")


class ConsumerGroupSelection(_Model):
    """Which consumer groups' committed offsets to capture with the backup."""

    capture: bool = Field(True, description="Capture consumer-group offsets at backup time.")
    include: Patterns = Field(default_factory=lambda: ["*"], description="Group patterns (glob or `re:` regex).")
    exclude: Patterns = Field(default_factory=list, description="Groups to leave out.")


class MetricsConfig(_Model):
    """The Prometheus endpoint (always on in service mode; on demand for one-shot commands)."""

    enabled: bool = Field(False, description="Serve /metrics, /healthz and /readyz during one-shot runs.")
    host: str = Field("127.0.0.1", description="Bind address.")
    port: int = Field(8080, ge=0, le=65535, description="Bind port (0 picks a free one).")
    path: str = Field("/metrics", description="Path of the metrics endpoint.")
    update_interval_ms: int = Field(500, gt=0, description="How often lag and throughput gauges are refreshed.")


class BackupConfig(_Model):
    """A backup job."""

    backup_id: Id = Field(description="Names the backup at the storage URL; workers with the same id share the work.")
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
    worker_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")] | None = Field(
        None,
        description="This worker's static group membership (`group.instance.id`): a worker restarted with the same id "
        "takes its partitions back at once, without waiting for its old session to time out. Default: "
        "`<hostname>-<n>`, n the lowest number no other running worker of this backup on this host holds. Two "
        "workers running at once must not share an id. The broker sees `<worker_id>.<8 hex digits>`, a "
        "fingerprint of the topics and partition counts: a worker restarted with other topics joins as a new "
        "member (after the old one's session times out) instead of being handed the old topics' partitions.",
    )

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


def format_validation_error(
    error: ValidationError, model: type[BaseModel], source: str, flags: Mapping[str, str] | None = None
) -> ConfigError:
    """One clear line for the first problem (a config file usually has one typo at a time), with a fix.

    ``flags``: dotted key path -> the command-line flag that set it; a problem at or under such a path is reported
    as the flag's, not the file's (the user typed the flag)."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    flag = next((f for p, f in (flags or {}).items() if path == p or path.startswith(f"{p}.")), None)
    if first["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        valid = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"valid keys here: {', '.join(valid)}"
        return ConfigError(f"{source}: unknown key '{path}'", hint=hint)
    if first["type"] == "missing":
        return ConfigError(f"{source}: missing required key '{path}'", hint=f"add {path} to the configuration")
    context = first.get("ctx") or {}
    message = str(context.get("problem") or first["msg"]).removeprefix("Value error, ")
    hint = str(context.get("hint") or (f"fix {flag}" if flag else f"fix {path} (docs/config.md lists every key)"))
    if flag:
        return ConfigError(f"{flag}: {message}", hint=hint)
    return ConfigError(f"{source}: invalid value at '{path}': {message}", hint=hint)


def parse_config(
    model: type[_M],
    data: Any,
    source: str = "config",
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
) -> _M:
    """``data`` validated as ``model`` after ``${ENV}`` expansion; ``flags`` as in :func:`format_validation_error`."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys at the top level, got {type(data).__name__}",
            hint="write the job as `key: value` lines (see docs/config.md)",
        )
    expanded = expand_env(data, environ)
    try:
        return model.model_validate(expanded)
    except ValidationError as exc:
        raise format_validation_error(exc, model, source, flags) from None


MAX_CONFIG_BYTES = 1024 * 1024
"""A job file larger than this is refused unread (jobs are a few kilobytes)."""
MAX_CONFIG_VALUES = 100_000
"""Values a job file may hold once YAML aliases are expanded (bounds "billion laughs" documents)."""
MAX_CONFIG_DEPTH = 64
"""How deeply a job file's mappings and lists may nest."""


def _check_size(document: Any, file: Path) -> None:
    """Refuse a document whose expanded form is too large, too deep, or refers to itself.

    ``yaml.safe_load`` shares one object for every alias of an anchor, so loading is bounded by the file size; it is
    everything *after* loading (``${ENV}`` expansion, validation) that would expand each alias. Sizes are counted
    once per shared object, so the check is linear in the file, whatever the aliases multiply to."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_ids:
            raise ConfigError(
                f"config file {file} contains a YAML alias that refers to itself", hint="remove the recursive alias"
            )
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(
                f"config file {file} nests deeper than {MAX_CONFIG_DEPTH} levels", hint="flatten the document"
            )
        open_ids.add(id(node))
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_ids.discard(id(node))
        if total > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"config file {file} expands to more than {MAX_CONFIG_VALUES:,} values (YAML aliases multiply it)",
                hint="write the values out instead of nesting aliases of aliases",
            )
        sizes[id(node)] = total
        return total

    size(document, 0)


def load_yaml(path: str | Path) -> Any:
    """The YAML document at ``path``, bounded: size, UTF-8, alias expansion and depth are checked (ConfigError)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {file} does not exist", hint="pass --config PATH to an existing YAML file"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"config file {file} cannot be read: {exc.strerror}", hint="pass --config PATH to a readable YAML file"
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {file} is larger than {MAX_CONFIG_BYTES // 1024} KiB", hint="a job file is a few kilobytes"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            hint="save it as UTF-8",
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "see the YAML syntax"
        raise ConfigError(
            f"config file {file} is not valid YAML{where}", hint=f"{problem}; check indentation and quoting there"
        ) from None
    except RecursionError:
        # PyYAML composes nested collections recursively
        raise ConfigError(
            f"config file {file} nests deeper than {MAX_CONFIG_DEPTH} levels", hint="flatten the document"
        ) from None
    _check_size(document, file)
    return document


def load_config(model: type[_M], path: str | Path, environ: Mapping[str, str] | None = None) -> _M:
    return parse_config(model, load_yaml(path), str(path), environ)
