"""The storage section: where backups live (an fsspec URL) and how to reach them (settings or raw options).

Kept apart from the Kafka models: commands that only read the storage (``kafka-backup list``) import this module
and the store options, not the Kafka client check. Opening the store (fsspec) is deferred to :meth:`StorageConfig.open`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from kafka_backup.engine.config.base import ConfigModel, invalid
from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.store.options import StorageSettings, check_url, credential_values, reject_url_credentials

if TYPE_CHECKING:
    from kafka_backup.engine.store import RetryPolicy, Store
    from kafka_backup.telemetry.catalog import Metrics


class StorageConfig(ConfigModel):
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
