"""The backup configuration: validation messages, env expansion, secrets, librdkafka mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.config.base import expand_env, load_config, parse_config
from kafka_backup.engine.errors import ConfigError

MINIMAL = {"backup_id": "b1", "source": {"bootstrap_servers": "k:9092"}}


class TestValidation:
    def test_unknown_key_suggests_closest(self) -> None:
        """A typo in a nested key names the full path and suggests the valid key."""
        data = {**MINIMAL, "segment": {"max_record": 10}}
        with pytest.raises(ConfigError, match=r"unknown key 'segment.max_record' \(did you mean 'max_records'\?\)"):
            parse_config(BackupConfig, data)

    def test_unknown_top_level_key_suggests_closest(self) -> None:
        """A top-level typo is caught too."""
        with pytest.raises(ConfigError, match=r"unknown key 'storge'.*did you mean 'storage'"):
            parse_config(BackupConfig, {**MINIMAL, "storge": {}})

    def test_missing_required_key(self) -> None:
        """A missing required key is named."""
        with pytest.raises(ConfigError, match=r"missing required key 'source'"):
            parse_config(BackupConfig, {"backup_id": "b1"})

    def test_invalid_enum_value(self) -> None:
        """A bad codec names the key and the allowed values."""
        with pytest.raises(ConfigError, match=r"invalid value at 'compression.codec'.*'zstd'"):
            parse_config(BackupConfig, {**MINIMAL, "compression": {"codec": "brotli"}})

    def test_not_a_mapping(self) -> None:
        """A YAML list at the top is rejected clearly."""
        with pytest.raises(ConfigError, match="expected a mapping"):
            parse_config(BackupConfig, ["a"])

    def test_bad_yaml_names_line(self, tmp_path: Path) -> None:
        """Invalid YAML reports the line."""
        path = tmp_path / "c.yaml"
        path.write_text("backup_id: x\nsource: [unclosed\n")
        with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
            load_config(BackupConfig, path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file says how to fix it."""
        with pytest.raises(ConfigError, match="does not exist"):
            load_config(BackupConfig, tmp_path / "nope.yaml")

    def test_defaults(self) -> None:
        """Documented defaults: zstd level 1, snapshot mode, read_committed, file storage."""
        cfg = parse_config(BackupConfig, MINIMAL)
        assert (cfg.compression.codec, cfg.compression.level, cfg.mode, cfg.isolation) == (
            "zstd",
            1,
            "snapshot",
            "read_committed",
        )


class TestEnvExpansion:
    def test_expands_nested_values(self) -> None:
        """${VAR} and ${VAR:-default} expand inside nested strings."""
        out = expand_env({"a": ["x-${A}", {"b": "${B:-dflt}"}]}, {"A": "1"})
        assert out == {"a": ["x-1", {"b": "dflt"}]}

    def test_missing_variable_is_named(self) -> None:
        """An unset variable without default is an error naming it and where it is used."""
        with pytest.raises(ConfigError, match=r"environment variable KB_PW is not set \(used at source.security"):
            parse_config(
                BackupConfig,
                {**MINIMAL, "source": {"bootstrap_servers": "k", "security": {"sasl_password": "${KB_PW}"}}},
                environ={},
            )


class TestSecrets:
    def test_password_is_hidden_but_reaches_librdkafka(self) -> None:
        """The SASL password is masked in repr and errors, and passed to librdkafka."""
        data = {
            "backup_id": "b1",
            "source": {
                "bootstrap_servers": "k:9092",
                "security": {
                    "protocol": "SASL_SSL",
                    "sasl_mechanism": "SCRAM-SHA-512",
                    "sasl_username": "u",
                    "sasl_password": "${PW}",
                },
                "client_config": {"fetch.wait.max.ms": 100},
            },
        }
        cfg = parse_config(BackupConfig, data, environ={"PW": "s3cr3t-value"})
        assert "s3cr3t-value" not in repr(cfg)
        conf = cfg.source.librdkafka()
        assert conf["sasl.password"] == "s3cr3t-value"
        assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
        assert conf["ssl.endpoint.identification.algorithm"] == "https"
        assert conf["fetch.wait.max.ms"] == 100
        assert "s3cr3t-value" in cfg.secrets()
