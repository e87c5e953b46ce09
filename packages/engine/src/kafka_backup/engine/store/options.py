"""fsspec storage options for each URL scheme, from explicit settings and the backends' standard credential chains.

Precedence, for every value: an explicit :class:`StorageSettings` field, then the standard environment variable,
then the backend library's own default chain (botocore's profiles and instance metadata, Google's application
default credentials, Azure's ``DefaultAzureCredential``). Credentials are never copied out of the environment when
the library reads them itself; only values that change *how* we connect (endpoint, addressing style, region,
emulator) are resolved here, so the options show what will happen.

Retries belong to :class:`~.retrying.RetryingStore` (one layer, counted by telemetry), so the S3 options switch
botocore's own retries off; gcsfs and the Azure SDK get the same treatment in :mod:`.fsspec`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from kafka_backup.engine.errors import ConfigError, StorageError
from kafka_backup.engine.store.base import Backend

if TYPE_CHECKING:
    # pydantic checks settings only when there are some: opening a local store imports no pydantic
    from pydantic import TypeAdapter

S3_DEFAULT_REGION = "us-east-1"
"""Region used with a custom endpoint when none is configured; S3-compatible servers (MinIO, Ceph) accept it."""

BACKENDS: dict[str, Backend] = {
    "file": "filesystem",
    "local": "filesystem",
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "memory": "memory",
}
"""Storage URL scheme -> backend (a URL without a scheme is a local path)."""


def _split_scheme(url: str) -> tuple[str, str]:
    """``(scheme, path)``, as fsspec's ``split_protocol`` splits (a one-letter "scheme" is a Windows drive)."""
    scheme, sep, path = url.partition("://")
    if not sep or len(scheme) <= 1:
        return "file", url
    return scheme, path


def backend_of(url: str) -> Backend:
    """The backend of a storage URL; a StorageError for an unknown scheme (configs are checked by :func:`check_url`)."""
    scheme = _split_scheme(url)[0]
    try:
        return BACKENDS[scheme]
    except KeyError:
        supported = ", ".join(sorted(f"{p}://" for p in BACKENDS))
        raise StorageError(f"unsupported storage URL scheme {scheme}://", hint=f"use one of {supported}") from None


def check_url(url: str) -> Backend:
    """The backend of a storage URL; a ConfigError for an unknown scheme or an object-store URL without a bucket."""
    scheme, path = _split_scheme(url)
    backend = BACKENDS.get(scheme)
    if backend is None:
        supported = ", ".join(sorted(f"{p}://" for p in BACKENDS))
        # the URL itself is not repeated: it may carry credentials
        raise ConfigError(f"unsupported storage URL scheme {scheme}://", hint=f"use one of {supported}")
    if backend in ("s3", "gcs", "azure") and not path.split("/", 1)[0]:
        raise ConfigError(
            f"storage URL {url!r} names no bucket", hint=f"write {scheme}://BUCKET or {scheme}://BUCKET/PREFIX"
        )
    return backend


@dataclass(frozen=True)
class StorageSettings:
    """How to reach the storage: everything optional; ``None`` means "use the environment, then the default chain".

    ``endpoint_url`` is the one knob for S3-compatible servers (MinIO, Ceph, R2), the GCS emulator
    (fake-gcs-server) and a custom Azure blob endpoint (Azurite, sovereign clouds).
    """

    endpoint_url: str | None = None
    region: str | None = None
    path_style: bool | None = None
    """S3 path-style addressing (``http://host/bucket/key``); default: on with a custom endpoint, else virtual."""
    anonymous: bool = False
    # S3
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    # GCS
    gcs_token: str | None = field(default=None, repr=False)
    """Path to a service-account JSON key, or one of gcsfs's methods: ``google_default``, ``cloud``, ``anon``."""
    gcs_project: str | None = None
    # Azure
    azure_connection_string: str | None = field(default=None, repr=False)
    azure_account_name: str | None = None
    azure_account_key: str | None = field(default=None, repr=False)
    azure_sas_token: str | None = field(default=None, repr=False)
    # all backends
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Passed to the fsspec filesystem as given, last, so it can override anything above."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> StorageSettings:
        """Settings from a configuration mapping with the field names as keys.

        Values are checked and converted by type (``"5"`` → 5.0 seconds, ``"true"`` → True: ``${ENV}`` expansion
        yields strings); an unknown key or a wrong type is a ConfigError naming the setting.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown storage setting(s): {', '.join(unknown)}", hint=f"known settings: {', '.join(sorted(known))}"
            )
        from pydantic import ValidationError  # noqa: PLC0415 - see the TYPE_CHECKING import

        try:
            settings: StorageSettings = _settings_adapter().validate_python(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(settings)"
            raise ConfigError(f"invalid storage setting '{where}': {first['msg']}") from None
        return settings

    @classmethod
    def secret_names(cls) -> tuple[str, ...]:
        """Settings whose values are secrets (never shown in repr, logs or error messages); ``extra`` included."""
        return tuple(f.name for f in fields(cls) if not f.repr)


SECRET_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_CLIENT_SECRET",
)
"""Environment variables holding storage credentials that the backend libraries read themselves (botocore, the Azure
SDK): we never copy them into options, so their values must be named to the log redaction separately."""

# gcsfs's ``token`` names a method instead of holding a credential when it is one of these
_GCS_TOKEN_METHODS = frozenset({"anon", "google_default", "cache", "cloud", "browser"})
# parts of an Azure connection string or SAS token that are credentials
_AZURE_SECRET_PARTS = ("accountkey", "sharedaccesssignature", "sig")


def credential_values(settings: StorageSettings | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every storage credential the backends may send, from ``settings`` and the environment, for log redaction.

    Includes the parts of connection strings and SAS tokens (the account key, the signature), since a library may
    log them apart from the whole string; excludes gcsfs's token method names (``anon``), which are not secrets.
    ``env`` defaults to ``os.environ``.
    """
    environ = os.environ if env is None else env
    values: list[str] = [environ[name] for name in SECRET_ENVIRONMENT if environ.get(name)]
    if settings is not None:
        for name in StorageSettings.secret_names():
            value = getattr(settings, name)
            if isinstance(value, Mapping):
                values += [str(v) for v in value.values() if isinstance(v, str)]
            elif isinstance(value, str) and not (name == "gcs_token" and value in _GCS_TOKEN_METHODS):
                values.append(value)
    parts: list[str] = []
    for value in values:
        # "AccountName=a;AccountKey=k;" and "sv=...&sig=..." both split into name=value pairs
        for piece in value.replace("&", ";").lstrip("?").split(";"):
            name, sep, part = piece.partition("=")
            if sep and name.strip().lower() in _AZURE_SECRET_PARTS:
                parts.append(part)
                parts += [v for k, v in parse_qsl(part) if k.lower() == "sig"]
    return [v for v in dict.fromkeys([*values, *parts]) if v]


def reject_url_credentials(url: str) -> None:
    """Raise ConfigError when a storage URL carries credentials (``s3://key:secret@bucket``, ``https://u:p@host``).

    Refused rather than redacted: the URL is printed in summaries, listings, ``--json`` output and error messages,
    and written into backup metadata, so a credential in it would leak through every one of those; credentials have
    their own secret-typed place (``storage.settings`` or the environment). The message never repeats the URL.
    """
    _, sep, rest = url.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if sep and "@" in authority:
        raise ConfigError(
            "the storage URL carries credentials (user:password@ before the bucket or host); refusing to use it",
            hint="remove them from the URL and set storage.settings (access_key_id, secret_access_key, ...) "
            "or the standard environment variables",
        )


@cache
def _settings_adapter() -> TypeAdapter[StorageSettings]:
    from pydantic import TypeAdapter  # noqa: PLC0415 - see the TYPE_CHECKING import

    return TypeAdapter(StorageSettings)


def storage_options(
    url: str, settings: StorageSettings | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The fsspec options for ``url`` (``s3://``, ``gs://``, ``az://``, a local path): settings, then ``env``.

    ``env`` defaults to ``os.environ``; tests pass their own mapping.
    """
    settings = settings or StorageSettings()
    environ = os.environ if env is None else env
    backend = backend_of(url)
    if backend == "s3":
        options = _s3_options(settings, environ)
    elif backend == "gcs":
        options = _gcs_options(settings, environ)
    elif backend == "azure":
        options = _azure_options(settings, environ)
    else:
        options = {}
    options.update(settings.extra)
    return options


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def _s3_options(settings: StorageSettings, env: Mapping[str, str]) -> dict[str, Any]:
    endpoint = _first(settings.endpoint_url, env.get("AWS_ENDPOINT_URL_S3"), env.get("AWS_ENDPOINT_URL"))
    region = _first(settings.region, env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION"))
    if endpoint and not region:
        region = S3_DEFAULT_REGION
    path_style = settings.path_style if settings.path_style is not None else bool(endpoint)
    client_kwargs: dict[str, Any] = {}
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    if region:
        client_kwargs["region_name"] = region
    config_kwargs: dict[str, Any] = {
        "connect_timeout": settings.connect_timeout,
        "read_timeout": settings.read_timeout,
        "retries": {"total_max_attempts": 1, "mode": "standard"},  # max_attempts counts retries: 1 sent twice
        "s3": {"addressing_style": "path" if path_style else "virtual"},
    }
    options: dict[str, Any] = {"client_kwargs": client_kwargs, "config_kwargs": config_kwargs}
    if settings.anonymous:
        options["anon"] = True
    elif settings.access_key_id or settings.secret_access_key:
        if not (settings.access_key_id and settings.secret_access_key):
            raise ConfigError(
                "S3 credentials need both access_key_id and secret_access_key",
                hint="set both, or neither to use the AWS credential chain (environment, profile, instance role)",
            )
        options["key"] = settings.access_key_id
        options["secret"] = settings.secret_access_key
        if settings.session_token:
            options["token"] = settings.session_token
    elif settings.profile:
        options["profile"] = settings.profile
    return options


def _gcs_options(settings: StorageSettings, env: Mapping[str, str]) -> dict[str, Any]:
    emulator = env.get("STORAGE_EMULATOR_HOST")
    endpoint = settings.endpoint_url or emulator
    if endpoint and "://" not in endpoint:
        endpoint = f"http://{endpoint}"  # STORAGE_EMULATOR_HOST is often written as host:port
    # gcsfs's ``token`` is a credential file path, the name of a method ("anon", "google_default") or a raw access
    # token; the noqa marks below are for the method names, credential_values() hands the rest to redaction
    if settings.anonymous:
        token = "anon"  # noqa: S105
    elif settings.gcs_token:
        token = settings.gcs_token
    elif env.get("GOOGLE_APPLICATION_CREDENTIALS"):
        token = env["GOOGLE_APPLICATION_CREDENTIALS"]
    elif endpoint and not settings.endpoint_url:
        token = "anon"  # noqa: S105 - an emulator named by STORAGE_EMULATOR_HOST takes no credentials
    else:
        # Explicit, so that missing credentials fail loudly instead of gcsfs silently falling back to anonymous.
        token = "google_default"  # noqa: S105
    options: dict[str, Any] = {"token": token}
    if endpoint:
        options["endpoint_url"] = endpoint.rstrip("/")
    project = _first(settings.gcs_project, env.get("GOOGLE_CLOUD_PROJECT"))
    if project:
        options["project"] = project
    return options


def _azure_options(settings: StorageSettings, env: Mapping[str, str]) -> dict[str, Any]:
    connection_string = _first(settings.azure_connection_string, env.get("AZURE_STORAGE_CONNECTION_STRING"))
    options: dict[str, Any] = {"connection_timeout": settings.connect_timeout, "read_timeout": settings.read_timeout}
    if connection_string:
        options["connection_string"] = connection_string
        return options
    account = _first(settings.azure_account_name, env.get("AZURE_STORAGE_ACCOUNT_NAME"))
    key = _first(settings.azure_account_key, env.get("AZURE_STORAGE_ACCOUNT_KEY"))
    sas = _first(settings.azure_sas_token, env.get("AZURE_STORAGE_SAS_TOKEN"))
    endpoint = _first(settings.endpoint_url, env.get("AZURE_STORAGE_BLOB_ENDPOINT"))
    if endpoint:
        # adlfs's account_host always means https; a connection string carries any scheme (Azurite speaks http).
        parts = urlsplit(endpoint)
        if not parts.scheme or not parts.netloc:
            raise ConfigError(f"Azure blob endpoint {endpoint!r} is not a URL", hint="e.g. http://127.0.0.1:10000/acct")
        if not account:
            raise ConfigError("an Azure blob endpoint needs an account name", hint="set azure_account_name")
        pieces = [f"DefaultEndpointsProtocol={parts.scheme}", f"AccountName={account}"]
        if key and not settings.anonymous:
            pieces.append(f"AccountKey={key}")
        pieces.append(f"BlobEndpoint={endpoint.rstrip('/')}")
        if sas and not key and not settings.anonymous:
            pieces.append(f"SharedAccessSignature={sas.lstrip('?')}")
        options["connection_string"] = ";".join(pieces) + ";"
        return options
    if account:
        options["account_name"] = account
    if settings.anonymous:
        options["anon"] = True
    elif key:
        options["account_key"] = key
    elif sas:
        options["sas_token"] = sas
    else:
        options["anon"] = False  # DefaultAzureCredential: environment, workload/managed identity, Azure CLI
    return options
