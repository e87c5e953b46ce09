# Throwaway credential values are what these tests pass around.
# ruff: noqa: S105, S106
"""storage_options(): settings beat the environment, which beats the libraries' defaults; each backend's shape."""

from __future__ import annotations

import pytest

from kafka_backup.engine.errors import ConfigError
from kafka_backup.engine.store import StorageSettings, storage_options


class TestS3Options:
    def test_custom_endpoint_means_path_style_and_a_region(self) -> None:
        """An S3-compatible endpoint gets path-style addressing and us-east-1 unless told otherwise."""
        options = storage_options("s3://b/p", StorageSettings(endpoint_url="http://minio:9000"), env={})
        assert options["client_kwargs"] == {"endpoint_url": "http://minio:9000", "region_name": "us-east-1"}
        assert options["config_kwargs"]["s3"] == {"addressing_style": "path"}
        assert options["config_kwargs"]["retries"]["total_max_attempts"] == 1
        assert "key" not in options  # credentials stay with botocore's chain

    def test_environment_endpoint_and_region(self) -> None:
        """AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL; AWS_REGION is used; settings beat both."""
        env = {"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://s3", "AWS_REGION": "eu-west-1"}
        options = storage_options("s3://b", None, env=env)
        assert options["client_kwargs"] == {"endpoint_url": "http://s3", "region_name": "eu-west-1"}
        options = storage_options("s3://b", StorageSettings(endpoint_url="http://mine", path_style=False), env=env)
        assert options["client_kwargs"]["endpoint_url"] == "http://mine"
        assert options["config_kwargs"]["s3"] == {"addressing_style": "virtual"}

    def test_aws_without_endpoint_is_virtual_host_style(self) -> None:
        """Plain AWS: no endpoint override, virtual-host addressing, region from the chain."""
        options = storage_options("s3://b", None, env={})
        assert options["client_kwargs"] == {}
        assert options["config_kwargs"]["s3"] == {"addressing_style": "virtual"}

    def test_static_keys_need_both_halves(self) -> None:
        """An access key without its secret is a configuration error, not a silent fallback."""
        with pytest.raises(ConfigError):
            storage_options("s3://b", StorageSettings(access_key_id="AKIA"), env={})
        options = storage_options("s3://b", StorageSettings(access_key_id="A", secret_access_key="S"), env={})
        assert (options["key"], options["secret"]) == ("A", "S")


class TestGcsOptions:
    def test_emulator_from_environment_is_anonymous(self) -> None:
        """STORAGE_EMULATOR_HOST (host:port) becomes an http endpoint with anonymous access."""
        options = storage_options("gs://b", None, env={"STORAGE_EMULATOR_HOST": "127.0.0.1:4443"})
        assert options == {"token": "anon", "endpoint_url": "http://127.0.0.1:4443"}

    def test_default_is_explicit_application_default_credentials(self) -> None:
        """Without settings, google_default (never gcsfs's silent anonymous fallback); a key file wins."""
        assert storage_options("gs://b", None, env={})["token"] == "google_default"
        env = {"GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json", "GOOGLE_CLOUD_PROJECT": "p"}
        assert storage_options("gs://b", None, env=env) == {"token": "/keys/sa.json", "project": "p"}


class TestAzureOptions:
    def test_custom_endpoint_becomes_a_connection_string(self) -> None:
        """Account + key + http endpoint (Azurite) become a connection string that keeps the scheme."""
        settings = StorageSettings(
            endpoint_url="http://127.0.0.1:10000/devstoreaccount1", azure_account_name="acct", azure_account_key="k=="
        )
        options = storage_options("az://c", settings, env={})
        assert options["connection_string"] == (
            "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=k==;"
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        )

    def test_environment_chain(self) -> None:
        """A connection string from the environment wins; else account + key; else DefaultAzureCredential."""
        assert storage_options("az://c", None, env={"AZURE_STORAGE_CONNECTION_STRING": "X"})["connection_string"] == "X"
        options = storage_options(
            "az://c", None, env={"AZURE_STORAGE_ACCOUNT_NAME": "a", "AZURE_STORAGE_ACCOUNT_KEY": "k"}
        )
        assert (options["account_name"], options["account_key"]) == ("a", "k")
        assert storage_options("az://c", StorageSettings(azure_account_name="a"), env={})["anon"] is False


class TestSettings:
    def test_from_mapping_rejects_unknown_keys(self) -> None:
        """A typo in a storage setting is a ConfigError naming it, not a silently dropped credential."""
        with pytest.raises(ConfigError, match="endpoint"):
            StorageSettings.from_mapping({"endpoint": "http://x"})
        assert StorageSettings.from_mapping({"endpoint_url": "http://x"}).endpoint_url == "http://x"

    def test_repr_hides_secrets(self) -> None:
        """Secrets never show in a repr (logs, tracebacks)."""
        text = repr(StorageSettings(secret_access_key="s3cr3t", azure_account_key="k3y", gcs_token="/t.json"))
        assert "s3cr3t" not in text
        assert "k3y" not in text

    def test_extra_applies_last_and_files_get_nothing(self) -> None:
        """``extra`` overrides the built options; local paths need no options."""
        assert storage_options("s3://b", StorageSettings(extra={"anon": True}), env={})["anon"] is True
        assert storage_options("/var/backups", None, env={"AWS_REGION": "x"}) == {}
