"""The `storage.settings` config section: validated into StorageSettings, secrets masked, one way to connect."""

from __future__ import annotations

import http.server
import threading

import pytest

from kafka_backup.engine.config.backup import BackupConfig
from kafka_backup.engine.config.base import parse_config
from kafka_backup.engine.config.storage import StorageConfig
from kafka_backup.engine.errors import ConfigError, StorageError
from kafka_backup.engine.store import RetryPolicy, StorageSettings


def backup(storage: dict[str, object]) -> BackupConfig:
    return parse_config(
        BackupConfig, {"backup_id": "b", "source": {"bootstrap_servers": "k:9092"}, "storage": storage}, "test.yaml"
    )


class TestSettingsSection:
    def test_values_are_converted_by_type(self) -> None:
        """Strings from ${ENV} expansion become numbers and booleans; the result is a StorageSettings."""
        config = backup(
            {
                "url": "s3://b/p",
                "settings": {"endpoint_url": "http://minio:9000", "connect_timeout": "3", "path_style": "true"},
            }
        )
        settings = config.storage.storage_settings()
        assert settings == StorageSettings(endpoint_url="http://minio:9000", connect_timeout=3.0, path_style=True)

    def test_environment_expansion(self) -> None:
        """`${VAR}` in a setting is expanded like everywhere else in the file."""
        data = {
            "backup_id": "b",
            "source": {"bootstrap_servers": "k:9092"},
            "storage": {"url": "az://c", "settings": {"azure_account_key": "${KEY}", "azure_account_name": "acct"}},
        }
        config = parse_config(BackupConfig, data, "test.yaml", environ={"KEY": "s3cr3t-key"})
        settings = config.storage.storage_settings()
        assert settings is not None and settings.azure_account_key == "s3cr3t-key"

    def test_unknown_setting_is_named(self) -> None:
        """A typo in a setting fails validation naming the key and listing the known ones."""
        with pytest.raises(ConfigError, match=r"storage.settings.*unknown storage setting\(s\): endpoint"):
            backup({"url": "s3://b", "settings": {"endpoint": "http://x"}})

    def test_wrong_type_is_named_without_the_value(self) -> None:
        """A value of the wrong type names the setting; the value itself (maybe a secret) is not echoed."""
        with pytest.raises(ConfigError, match=r"invalid storage setting 'read_timeout'") as raised:
            backup({"url": "s3://b", "settings": {"read_timeout": "not-a-number-secret"}})
        assert "not-a-number-secret" not in str(raised.value)

    def test_options_and_settings_are_exclusive(self) -> None:
        """Raw fsspec options and settings together are ambiguous: a configuration error."""
        with pytest.raises(ConfigError, match=r"either storage\.options"):
            backup({"url": "s3://b", "options": {"anon": True}, "settings": {"anonymous": True}})

    def test_secrets_are_masked_and_listed(self) -> None:
        """Keys, tokens and connection strings stay out of repr and are handed to log redaction."""
        storage = StorageConfig.model_validate(
            {
                "url": "s3://b",
                "settings": {
                    "access_key_id": "AKIAEXAMPLE",
                    "secret_access_key": "very-secret-key",
                    "extra": {"token": "extra-secret-token"},
                    "region": "eu-west-1",
                },
            }
        )
        config = backup(
            {"url": "s3://b", "settings": {"secret_access_key": "very-secret-key", "access_key_id": "AK12"}}
        )
        for text in (repr(storage), str(storage), repr(config), repr(storage.storage_settings())):
            assert "very-secret-key" not in text
            assert "AKIAEXAMPLE" not in text
        assert set(storage.secrets(environ={})) == {"AKIAEXAMPLE", "very-secret-key", "extra-secret-token"}
        assert "very-secret-key" in config.secrets()

    def test_open_builds_options_from_settings(self) -> None:
        """`StorageConfig.open()` builds the fsspec options from the settings (endpoint, keys, no retries)."""
        with _RecordingServer() as server:
            storage = StorageConfig.model_validate(
                {
                    "url": "s3://bucket/prefix",
                    "settings": {"endpoint_url": server.url, "access_key_id": "ak-probe", "secret_access_key": "sk"},
                }
            )
            store = storage.open(backup_id="b", retry=RetryPolicy(attempts=1))
            assert store.backend == "s3"
            assert store.url == "s3://bucket/prefix"
            with pytest.raises(StorageError):
                store.put("k", b"v", operation="segment")
        # the endpoint: the request reached our server; the path style that goes with an endpoint override
        assert server.requests, "the store never called the configured endpoint"
        _method, path, authorization = server.requests[0]
        assert path.startswith("/bucket/prefix/k"), path
        # the keys: SigV4 names the access key (the secret only signs)
        assert "Credential=ak-probe/" in authorization, authorization
        # no retries: botocore's are off (total_max_attempts 1) and ours were set to one attempt, so one 503 is one PUT
        assert [m for m, _, _ in server.requests] == ["PUT"], server.requests


class _RecordingServer(http.server.ThreadingHTTPServer):
    """A loopback HTTP server answering every request with 503, recording (method, path, Authorization)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> _RecordingServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    def test_empty_settings_use_the_environment(self) -> None:
        """No settings and no options: `storage_settings()` is None and the environment decides."""
        storage = StorageConfig.model_validate({"url": "file:///tmp/x"})
        assert storage.storage_settings() is None
        assert storage.open().backend == "filesystem"


class TestRedactionInputs:
    """What the configuration hands to log redaction, and the URL form it refuses."""

    def test_environment_credentials_are_secrets(self) -> None:
        """AWS and Azure credentials read by the backend libraries from the environment are listed too."""
        storage = StorageConfig.model_validate({"url": "s3://b"})
        environ = {"AWS_SESSION_TOKEN": "IQoJ-session", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_REGION": "x-1"}
        assert set(storage.secrets(environ=environ)) == {"IQoJ-session", "env-secret"}

    def test_connection_string_parts_are_secrets(self) -> None:
        """An Azure connection string's account key and a SAS token's signature are listed on their own."""
        storage = StorageConfig.model_validate(
            {"url": "az://c", "settings": {"azure_connection_string": "AccountName=a;AccountKey=k3y-value;"}}
        )
        assert "k3y-value" in storage.secrets(environ={})
        sas = StorageConfig.model_validate({"url": "az://c", "settings": {"azure_sas_token": "?sv=2021&sig=s1gnature"}})
        assert "s1gnature" in sas.secrets(environ={"AZURE_STORAGE_SAS_TOKEN": "sv=1&sig=env-s1g"})
        assert "env-s1g" in sas.secrets(environ={"AZURE_STORAGE_SAS_TOKEN": "sv=1&sig=env-s1g"})

    def test_gcs_method_names_are_not_secrets(self) -> None:
        """gcs_token "anon" names a method (masking it would hide the word everywhere); a raw token is a secret."""
        anon = StorageConfig.model_validate({"url": "gs://b", "settings": {"gcs_token": "anon"}})
        raw = StorageConfig.model_validate({"url": "gs://b", "settings": {"gcs_token": "ya29.raw-token"}})
        assert anon.secrets(environ={}) == []
        assert raw.secrets(environ={}) == ["ya29.raw-token"]

    @pytest.mark.parametrize(
        "url", ["s3://AKIAKEY:SECRETVALUE@bucket/p", "https://alice:pa55word@host/x", "az://alice@container"]
    )
    def test_url_credentials_are_refused(self, url: str) -> None:
        """Credentials in the storage URL are a config error whose message does not repeat them."""
        with pytest.raises(ConfigError) as caught:
            backup({"url": url})
        assert "credentials" in str(caught.value)
        for part in ("AKIAKEY", "SECRETVALUE", "pa55word", "alice"):
            assert part not in str(caught.value)

    def test_client_config_secrets(self) -> None:
        """Secret-looking librdkafka settings passed through client_config are listed; others are not."""
        config = parse_config(
            BackupConfig,
            {
                "backup_id": "b",
                "source": {
                    "bootstrap_servers": "k:9092",
                    "client_config": {"sasl.oauthbearer.client.secret": "oauth-s3cret", "acks": "all"},
                },
            },
        )
        assert config.source.secrets() == ["oauth-s3cret"]
