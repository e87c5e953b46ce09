"""pytest plugin: real storage servers, started once per session, and one ``storage_target`` fixture over backends.

Use ``storage_target`` to run a test against every backend (local files, S3 on MinIO, GCS on fake-gcs-server,
Azure Blob on Azurite): it is parametrized with ids ``file``, ``s3``, ``gcs``, ``azure``, and a server starts only
when a test that needs it runs (``-k file`` starts none). Each test gets its own root URL, so tests never see each
other's objects. ``KAFKA_BACKUP_TEST_BACKENDS=file,s3`` narrows the set (e.g. while debugging one backend).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kafka_backup.engine.store import RetryPolicy, StorageSettings, Store, open_store, storage_options
from kafka_backup.engine.store._filesystems import make_filesystem
from kafka_backup.engine.store._local import TEMP_MARKER
from kafka_backup.engine.store.base import Backend
from rig.kafka import tail
from rig.storage import AzuriteServer, FakeGcsServer, MinioServer, StorageServer

BACKENDS = ("file", "s3", "gcs", "azure")
FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.05, max_delay=0.2, deadline=30.0)
"""Retries short enough for tests; the contract tests that exercise retrying pass their own policy."""


@dataclass(frozen=True)
class StorageTarget:
    """A root URL on one backend, unique to one test, and how to reach it."""

    backend: Backend
    url: str
    settings: StorageSettings | None = None
    server: StorageServer | None = None
    """The server behind the URL (None for local files); tests may stop and restart it."""

    @property
    def options(self) -> dict[str, Any]:
        """The fsspec options for :attr:`url` (what a backup config's storage options would be)."""
        return storage_options(self.url, self.settings, env={})

    def store(
        self,
        *,
        retry: RetryPolicy = FAST_RETRY,
        on_retry: Callable[[str, BaseException], None] | None = None,
        settings: StorageSettings | None = None,
        url: str | None = None,
    ) -> Store:
        """The production store (``open_store``) for this target, or for ``url``/``settings`` on the same backend."""
        url = url or self.url
        options = storage_options(url, settings or self.settings, env={})
        return open_store(url, options or None, retry=retry, on_retry=on_retry)

    def filesystem(self) -> Any:
        """The raw fsspec filesystem, for setting up states the store itself never creates."""
        protocol = self.url.split("://", 1)[0]
        return make_filesystem(protocol, {**self.options, "skip_instance_cache": True})

    def path(self, key: str) -> str:
        return f"{self.url.split('://', 1)[1]}/{key}"

    def put_raw(self, key: str, data: bytes) -> None:
        """Write an object directly, bypassing the store (e.g. one whose name looks like a temp file)."""
        fs = self.filesystem()
        if self.backend == "filesystem":
            fs.makedirs(os.path.dirname(self.path(key)), exist_ok=True)
        fs.pipe_file(self.path(key), data)

    def leave_incomplete_upload(self, key: str, data: bytes) -> None:
        """Leave what a writer that died mid-upload of ``key`` leaves behind on this backend."""
        if self.backend == "filesystem":
            # atomic_write's temp file, written but never renamed onto the key
            self.put_raw(f"{key}{TEMP_MARKER}0123456789ab", data)
        elif self.backend == "s3":
            fs = self.filesystem()
            bucket, path = self.path(key).split("/", 1)
            upload = fs.call_s3("create_multipart_upload", Bucket=bucket, Key=path)
            fs.call_s3("upload_part", Bucket=bucket, Key=path, UploadId=upload["UploadId"], PartNumber=1, Body=data)
        elif self.backend == "gcs":
            from fsspec.asyn import sync  # noqa: PLC0415
            from gcsfs.core import initiate_upload  # noqa: PLC0415

            fs = self.filesystem()
            bucket, path = self.path(key).split("/", 1)
            location = sync(fs.loop, initiate_upload, fs, bucket, path)
            # a non-final chunk of a resumable upload: a multiple of 256 KiB, with the total size left open ("*")
            chunk = (data * (2**18 // max(len(data), 1) + 1))[: 2**18]
            headers = {"Content-Range": f"bytes 0-{len(chunk) - 1}/*", "Content-Type": "application/octet-stream"}
            fs.call("POST", location, headers=headers, data=chunk)
        elif self.backend == "azure":
            from azure.storage.blob import BlobServiceClient  # noqa: PLC0415

            container, path = self.path(key).split("/", 1)
            client = BlobServiceClient.from_connection_string(self.options["connection_string"])
            with client:
                client.get_blob_client(container, path).stage_block(block_id="YmxvY2stMDAwMQ==", data=data)
        else:
            raise NotImplementedError(self.backend)


def pytest_configure(config: pytest.Config) -> None:
    # aiohttp warns (ResourceWarning, ignored by Python outside tests) when gcsfs or the Azure SDK sends a body over
    # 1 MiB as bytes; the libraries build those bodies themselves, so only tests that turn warnings into errors see it.
    config.addinivalue_line("filterwarnings", "ignore:Sending a large body directly with raw bytes:ResourceWarning")


def _start(server: StorageServer) -> Iterator[StorageServer]:
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[StorageServer]:
    """MinIO on a loopback port, bucket ``kafka-backup-test`` created; removed with its data at session end."""
    yield from _start(MinioServer())


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[StorageServer]:
    """fake-gcs-server on a loopback port, bucket ``kafka-backup-test`` created."""
    yield from _start(FakeGcsServer())


@pytest.fixture(scope="session")
def azure_server() -> Iterator[StorageServer]:
    """Azurite's blob service on a loopback port, container ``kafka-backup-test`` created."""
    yield from _start(AzuriteServer())


def _selected_backends() -> list[str]:
    wanted = os.environ.get("KAFKA_BACKUP_TEST_BACKENDS")
    if not wanted:
        return list(BACKENDS)
    chosen = [b.strip() for b in wanted.split(",") if b.strip()]
    unknown = sorted(set(chosen) - set(BACKENDS))
    if unknown:
        raise pytest.UsageError(f"KAFKA_BACKUP_TEST_BACKENDS names unknown backends {unknown}; know {BACKENDS}")
    return chosen


def _unique_prefix(request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:60]
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=_selected_backends())
def storage_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> StorageTarget:
    """A fresh root URL on each backend in turn (ids ``file``, ``s3``, ``gcs``, ``azure``)."""
    kind: str = request.param
    if kind == "file":
        root = tmp_path_factory.mktemp("store") / _unique_prefix(request)
        return StorageTarget(backend="filesystem", url=f"file://{root}")
    server: StorageServer = request.getfixturevalue(f"{kind}_server")
    if not server.running:  # a test that stopped it failed before restarting it
        server.start()
    return StorageTarget(
        backend=server.backend,  # type: ignore[arg-type]  # the subclasses name a Backend
        url=server.url(server.buckets[0], _unique_prefix(request)),
        settings=server.settings(),
        server=server,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failing test that used a storage server, attach the server log's tail to the report."""
    report: pytest.TestReport = yield  # type: ignore[assignment]  # pluggy's wrapper protocol sends the result
    if report.failed:
        funcargs: dict[str, object] = getattr(item, "funcargs", {})
        for value in funcargs.values():
            server = value.server if isinstance(value, StorageTarget) else value
            if isinstance(server, StorageServer):
                report.sections.append((f"{server.kind} server log {server.log_path}", tail(server.log_path, 60)))
    return report  # type: ignore[return-value]
