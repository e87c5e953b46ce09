"""Where a command finds the backup: ``--config`` (a backup or restore YAML), overridden by flags.

Every catalog, validate and offset-reset command takes the same three options, so a user can point them at the
YAML they already have, or at a URL and an id with no file at all.

A local storage URL given without ``--config`` is the whole storage section (no options, no settings): it is
checked as the section's model would check it and opened without building the model, so ``kafka-backup list`` of a
local store does not import pydantic (a third of its start-up). Anything else goes through the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kafka_backup.engine import ConfigError, id_problem
from kafka_backup.engine.store import check_url, credential_values, open_store, reject_url_credentials
from kafka_backup.telemetry import register_secret

if TYPE_CHECKING:
    from pydantic import BaseModel

    from kafka_backup.engine import KafkaConfig, StorageConfig, Store
    from kafka_backup.telemetry import Metrics

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M", bound="BaseModel")


def storage_options(fn: F) -> F:
    """``--config``, ``--storage-url``, ``--backup-id`` (the id is optional for commands that do not need it)."""
    fn = click.option("--backup-id", "-b", help="Backup id (default: backup_id in --config).")(fn)
    fn = click.option(
        "--storage-url",
        "-s",
        envvar="KAFKA_BACKUP_STORAGE_URL",
        help="Storage URL, e.g. s3://bucket/prefix (default: storage.url in --config; env KAFKA_BACKUP_STORAGE_URL).",
    )(fn)
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(path_type=Path),
        help="A backup or restore YAML to take storage, backup_id and target from.",
    )(fn)


@dataclass(frozen=True)
class Located:
    url: str
    backup_id: str | None
    raw: dict[str, Any]
    source: str
    storage: StorageConfig | None = None
    """The validated storage section; None for a local URL on the command line (see the module docstring)."""

    def require_backup_id(self) -> str:
        if not self.backup_id:
            raise ConfigError("no backup id given", hint="pass --backup-id ID or a --config with backup_id")
        return self.backup_id

    def store(self, metrics: Metrics | None = None) -> Store:
        if self.storage is None:
            return open_store(self.url, metrics=metrics, backup_id=self.backup_id or "")  # what the section opens
        return self.storage.open(metrics=metrics, backup_id=self.backup_id or "")

    def secrets(self) -> list[str]:
        """Storage credentials, for the log redaction step (for a bare URL: the environment's, as the section's)."""
        if self.storage is None:
            return [v for v in credential_values() if len(v) >= 4]
        return self.storage.secrets()

    def target(self, bootstrap: str | None) -> KafkaConfig | None:
        """The target cluster: ``--bootstrap-servers`` over the config's ``target`` (None when neither is given)."""
        target = dict(self.raw.get("target") or {})
        if bootstrap:
            target["bootstrap_servers"] = bootstrap
        if not target:
            return None
        flags = {"bootstrap_servers": "--bootstrap-servers"} if bootstrap else {}
        # imported here: commands that only read the storage (list, describe) need no Kafka model
        from kafka_backup.engine import KafkaConfig, parse_config  # noqa: PLC0415

        return parse_config(KafkaConfig, target, f"{self.source} (target)", flags=flags)


def _load_mapping(config_path: Path | None) -> tuple[dict[str, Any], str]:
    """The YAML job file as a mapping, and where it came from (an empty mapping from the "command line" without)."""
    if config_path is None:
        return {}, "command line"
    from kafka_backup.engine import load_yaml  # noqa: PLC0415 - see the module docstring

    loaded = load_yaml(config_path)
    if not isinstance(loaded, dict):
        raise ConfigError(f"{config_path}: expected a mapping of keys at the top level")
    return loaded, str(config_path)


def locate(config_path: Path | None, storage_url: str | None, backup_id: str | None) -> Located:
    """The storage and backup id to work on; their credentials are registered for log redaction before it returns,
    so every command built on it (list, describe, prune, validate, offset-reset) masks them from the first line."""
    located: Located
    if config_path is None and storage_url and plain_local_url(storage_url):
        located = Located(storage_url, backup_id, {}, "command line")
    else:
        from kafka_backup.engine import StorageConfig, expand_env, parse_config  # noqa: PLC0415 - the model's path

        loaded, source = _load_mapping(config_path)
        raw = expand_env(loaded)
        storage = dict(raw.get("storage") or {})
        if storage_url:
            storage["url"] = storage_url
        if "url" not in storage:
            raise ConfigError(
                "no storage URL given", hint="pass --storage-url URL, set KAFKA_BACKUP_STORAGE_URL, or --config"
            )
        flags = {"url": "--storage-url"} if storage_url else {}
        parsed = parse_config(StorageConfig, storage, f"{source} (storage)", flags=flags)
        located = Located(parsed.url, backup_id or raw.get("backup_id"), raw, source, parsed)
    for secret in located.secrets():
        register_secret(secret)
    if located.backup_id is not None:
        check_id(located.backup_id, "--backup-id" if backup_id else f"{located.source}: backup_id")
    return located


def plain_local_url(url: str) -> bool:
    """Whether ``url`` names local files and passes the storage section's URL checks (a known scheme, no
    credentials): then the section ``{url: URL}`` holds nothing else to validate, and the model would only repeat
    these checks. Any other URL (or one these refuse) goes through the model, whose error names the flag."""
    try:
        reject_url_credentials(url)
        return check_url(url) == "filesystem"
    except ConfigError:
        return False


def check_id(value: object, where: str) -> None:
    """A backup or restore id names a storage prefix: anything else (``../x``) is refused before it is used."""
    problem = id_problem(str(value), "id")
    if problem:
        raise ConfigError(f"{where}: {problem}", hint="pass the id `kafka-backup list` shows")


def job_config(model: type[M], config_path: Path | None, overrides: dict[str, tuple[str, Any]]) -> M:
    """A job that writes to a target cluster (restore, drill): the YAML (if any) with the command-line overrides
    applied, validated as one document.

    ``overrides``: dotted key path -> (flag, value); None, empty and False mean "not given". A value that fails
    validation is reported as the flag's (``--from: ...``), not as the file's."""
    from kafka_backup.engine import parse_config  # noqa: PLC0415 - see the module docstring

    data, source = _load_mapping(config_path)
    flags: dict[str, str] = {}
    for path, (flag, value) in overrides.items():
        if value is None or value == () or value is False:
            continue
        node = data
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict):
            node[leaf] = {**(node.get(leaf) or {}), **value}
            flags.update({f"{path}.{key}": flag for key in value})
        else:
            node[leaf] = list(value) if isinstance(value, tuple) else value
            flags[path] = flag
    if "target" not in data:
        raise ConfigError(
            "no target cluster given", hint="pass --bootstrap-servers HOST:PORT or a --config with target"
        )
    return parse_config(model, data, source, flags=flags)
