"""Real object-storage servers for development and tests: MinIO (S3), fake-gcs-server (GCS) and Azurite (Azure Blob).

Where they come from, built or installed once by ``scripts/setup.sh`` and cached (git ignores ``.cache``):

- MinIO and fake-gcs-server: ``go install module@version`` from the Go module proxy into ``.cache/bin``; a
  ``.cache/bin/.<name>.version`` marker records the version, so a warm run does nothing;
- Azurite: ``npm ci`` of ``tests/rig/node/package*.json`` into ``.cache/node``, marked by the lock file's hash.

Each server runs on a free loopback port with its data in a temporary folder and its output in
``<workdir>/server.log``. :meth:`StorageServer.stop` and :meth:`StorageServer.start` keep the port and the data, so a
test can stop a server mid-way and bring it back for the tests after it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from kafka_backup.engine.store.options import StorageSettings, storage_options
from rig.kafka import CACHE_DIR, RIG_DIR, RigError, free_port, require_tool, tail

BIN_DIR = CACHE_DIR / "bin"
NODE_DIR = CACHE_DIR / "node"
RUN_DIR = CACHE_DIR / "run"

MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
"""MinIO publishes no semver tags to the module proxy; this is the newest commit it serves (2026-02-12)."""
FAKE_GCS_MODULE = "github.com/fsouza/fake-gcs-server"
FAKE_GCS_VERSION = "v1.56.1"
AZURITE_VERSION = "3.35.0"
"""The newest Azurite whose ``engines`` accept Node 20 (3.36 and later want Node 21+/22+)."""

S3_ACCESS_KEY = "kafka-backup-test"
S3_SECRET_KEY = "kafka-backup-test-secret"  # noqa: S105 - a throwaway credential for a loopback test server
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account key (published in its documentation; not a secret)."""
DEFAULT_BUCKET = "kafka-backup-test"


# ---- build and install ----------------------------------------------------------------------------------------


def go_tool(name: str, module: str, version: str) -> Path:
    """``.cache/bin/<name>``, built with ``go install module@version`` from the Go module proxy on first use."""
    binary = BIN_DIR / name
    marker = BIN_DIR / f".{name}.version"
    if binary.exists() and marker.exists() and marker.read_text() == version:
        return binary
    go = require_tool("go", "install Go 1.24+ (https://go.dev/doc/install), or `apt-get install golang`")
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=BIN_DIR))
    env = {**os.environ, "GOBIN": str(staging), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    cmd = [go, "install", "-trimpath", "-ldflags=-s -w", f"{module}@{version}"]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise RigError(f"`go install {module}@{version}` failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
        built = staging / Path(module).name
        built.replace(binary)  # atomic: a concurrent reader sees the old binary or the new one
        marker.write_text(version)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def azurite_bin() -> Path:
    """``.cache/node/node_modules/.bin/azurite-blob``, installed with ``npm ci`` from the committed lock file."""
    sources = RIG_DIR / "node"
    lock = (sources / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (sources / "package.json").read_bytes()).hexdigest()
    marker = NODE_DIR / ".lock-sha256"
    binary = NODE_DIR / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists() and marker.exists() and marker.read_text() == digest:
        return binary
    require_tool("node", "install Node.js 20+ (e.g. `apt-get install nodejs npm`)")
    npm = require_tool("npm", "install npm (e.g. `apt-get install npm`)")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(sources / name, NODE_DIR / name)
    cmd = [npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"]
    result = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not binary.exists():
        raise RigError(f"`npm ci` of Azurite {AZURITE_VERSION} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    marker.write_text(digest)
    return binary


# ---- servers ----------------------------------------------------------------------------------------------------


@dataclass
class StorageServer:
    """One server process on loopback; subclasses say how to build its command line and how it reports ready."""

    kind: ClassVar[str]
    backend: ClassVar[str]
    title: ClassVar[str]
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="storage-rig-")))
    port: int = field(default_factory=free_port)
    buckets: tuple[str, ...] = (DEFAULT_BUCKET,)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        """One readiness probe (an HTTP request that only a serving server answers)."""
        raise NotImplementedError

    def settings(self) -> StorageSettings:
        """Settings that reach this server with valid credentials."""
        raise NotImplementedError

    def bad_settings(self) -> StorageSettings:
        """Settings that reach this server with credentials it must reject."""
        raise NotImplementedError

    def url(self, bucket: str, prefix: str = "") -> str:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> StorageServer:
        """Start (or restart) the server on the same port and data; create the buckets on first start."""
        if self.running:
            return self
        first = not self.data_dir.exists()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RigError(
                    f"{self.kind} server did not start on port {self.port}; last lines of {self.log_path}:\n"
                    f"{tail(self.log_path)}"
                )
            time.sleep(0.1)
        if first:
            for bucket in self.buckets:
                self.create_bucket(bucket)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def close(self) -> None:
        """Stop the server and remove its data."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def create_bucket(self, bucket: str) -> None:
        import fsspec  # noqa: PLC0415 - the install commands run without the workspace's packages

        url = self.url(bucket)
        fs = fsspec.filesystem(
            url.split("://", 1)[0], skip_instance_cache=True, **storage_options(url, self.settings())
        )
        fs.mkdir(bucket)

    def _http_ok(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}{path}", timeout=1) as response:  # noqa: S310 - loopback
                return int(response.status) < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            return False

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "endpoint": self.endpoint,
            "port": self.port,
            "workdir": str(self.workdir),
            "log": str(self.log_path),
            "pid": self.process.pid if self.process else None,
            "buckets": list(self.buckets),
            "env": self.person_env(),
        }

    def person_env(self) -> dict[str, str]:
        """Environment variables that point the kafka-backup CLI at this server."""
        raise NotImplementedError


@dataclass
class MinioServer(StorageServer):
    """MinIO, a real S3 implementation (signature v4, multipart uploads, S3 error codes)."""

    kind: ClassVar[str] = "s3"
    backend: ClassVar[str] = "s3"
    title: ClassVar[str] = "MinIO"
    console_port: int = field(default_factory=free_port)

    def command(self) -> list[str]:
        binary = go_tool("minio", MINIO_MODULE, MINIO_VERSION)
        return [
            str(binary), "server", str(self.data_dir), "--quiet", "--address", f"127.0.0.1:{self.port}",
            "--console-address", f"127.0.0.1:{self.console_port}",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "MINIO_ROOT_USER": S3_ACCESS_KEY,
            "MINIO_ROOT_PASSWORD": S3_SECRET_KEY,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CALLHOME_ENABLE": "off",
            "MINIO_API_REQUESTS_DEADLINE": "30s",
        }

    def ready(self) -> bool:
        return self._http_ok("/minio/health/ready")

    def settings(self) -> StorageSettings:
        return StorageSettings(
            endpoint_url=self.endpoint, access_key_id=S3_ACCESS_KEY, secret_access_key=S3_SECRET_KEY, connect_timeout=3
        )

    def bad_settings(self) -> StorageSettings:
        return StorageSettings(
            endpoint_url=self.endpoint,
            access_key_id=S3_ACCESS_KEY,
            secret_access_key="wrong-secret",  # noqa: S106 - the point: a credential the server rejects
            connect_timeout=3,
        )

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{bucket}/{prefix}".rstrip("/")

    def person_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_REGION": "us-east-1",
        }


@dataclass
class FakeGcsServer(StorageServer):
    """fake-gcs-server, a GCS JSON API emulator. It does not check credentials (see docs/storage.md)."""

    kind: ClassVar[str] = "gcs"
    backend: ClassVar[str] = "gcs"
    title: ClassVar[str] = "fake-gcs-server"

    def command(self) -> list[str]:
        binary = go_tool("fake-gcs-server", FAKE_GCS_MODULE, FAKE_GCS_VERSION)
        return [
            str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
            "-backend", "filesystem", "-filesystem-root", str(self.data_dir),
            "-public-host", f"127.0.0.1:{self.port}", "-external-url", self.endpoint, "-log-level", "warn",
        ]  # fmt: skip

    def ready(self) -> bool:
        return self._http_ok("/storage/v1/b")

    def settings(self) -> StorageSettings:
        return StorageSettings(endpoint_url=self.endpoint, anonymous=True, connect_timeout=3)

    def bad_settings(self) -> StorageSettings:
        raise RigError("fake-gcs-server accepts any credentials, so it cannot reject wrong ones")

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"gs://{bucket}/{prefix}".rstrip("/")

    def person_env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.endpoint}


@dataclass
class AzuriteServer(StorageServer):
    """Azurite's blob service: Microsoft's Azure Storage emulator (shared-key auth, block blobs, Azure errors)."""

    kind: ClassVar[str] = "azure"
    backend: ClassVar[str] = "azure"
    title: ClassVar[str] = "Azurite (blob)"

    def command(self) -> list[str]:
        return [
            str(azurite_bin()), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
            "--location", str(self.data_dir), "--skipApiVersionCheck", "--disableTelemetry", "--loose",
        ]  # fmt: skip

    def ready(self) -> bool:
        return self._http_ok(f"/{AZURITE_ACCOUNT}?comp=list")

    @property
    def blob_endpoint(self) -> str:
        return f"{self.endpoint}/{AZURITE_ACCOUNT}"

    def settings(self) -> StorageSettings:
        return StorageSettings(
            endpoint_url=self.blob_endpoint, azure_account_name=AZURITE_ACCOUNT, azure_account_key=AZURITE_KEY,
            connect_timeout=3,
        )  # fmt: skip

    def bad_settings(self) -> StorageSettings:
        wrong = "d3Jvbmcta2V5LWZvci10ZXN0cy13cm9uZy1rZXktZm9yLXRlc3RzLXdyb25nLWtleQ=="
        return StorageSettings(
            endpoint_url=self.blob_endpoint, azure_account_name=AZURITE_ACCOUNT, azure_account_key=wrong,
            connect_timeout=3,
        )  # fmt: skip

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"az://{bucket}/{prefix}".rstrip("/")

    def person_env(self) -> dict[str, str]:
        return {
            "AZURE_STORAGE_CONNECTION_STRING": (
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint={self.blob_endpoint};"
            )
        }


SERVERS: dict[str, type[StorageServer]] = {"s3": MinioServer, "gcs": FakeGcsServer, "azure": AzuriteServer}


# ---- commands a person can run: python -m rig s3|gcs|azure start|stop|status -----------------------------------


def _state_file(kind: str) -> Path:
    return RUN_DIR / f"{kind}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_state(kind: str) -> dict[str, object] | None:
    path = _state_file(kind)
    if not path.exists():
        return None
    state: dict[str, object] = json.loads(path.read_text())
    pid = state.get("pid")
    return state if isinstance(pid, int) and _alive(pid) else None


def cmd_start(kind: str) -> dict[str, object]:
    """Start a detached server with its data in ``.cache/run/<kind>-data``; a running one is reused."""
    state = read_state(kind)
    if state is not None:
        return state
    workdir = RUN_DIR / f"{kind}-data"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    server = SERVERS[kind](workdir=workdir).start()
    state = server.describe()
    _state_file(kind).write_text(json.dumps(state, indent=2))
    return state


def cmd_stop(kind: str) -> bool:
    state = read_state(kind)
    _state_file(kind).unlink(missing_ok=True)
    if state is None:
        return False
    pid = int(str(state["pid"]))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return True


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``python -m rig s3|gcs|azure start|stop|status`` and ``python -m rig storage install``."""
    for kind, cls in SERVERS.items():
        parser = sub.add_parser(kind, help=f"a local {cls.title} server for {kind} URLs")
        parser.add_argument("action", choices=["start", "stop", "status"])
    parser = sub.add_parser("storage", help="build/install every storage server into .cache (what setup runs)")
    parser.add_argument("action", choices=["install"])


def run_command(component: str, action: str) -> int:
    if component == "storage":
        steps = {
            "s3": lambda: go_tool("minio", MINIO_MODULE, MINIO_VERSION),
            "gcs": lambda: go_tool("fake-gcs-server", FAKE_GCS_MODULE, FAKE_GCS_VERSION),
            "azure": azurite_bin,
        }
        for kind, step in steps.items():
            started = time.monotonic()
            path = step()
            print(f"{kind}: {path} ({time.monotonic() - started:.1f}s)")
        return 0
    if action == "start":
        state = cmd_start(component)
        print(json.dumps(state, indent=2))
        print("# point kafka-backup at it with:")
        env = state.get("env")
        if isinstance(env, dict):
            for name, value in env.items():
                print(f"export {name}='{value}'")
        return 0
    if action == "stop":
        print("stopped" if cmd_stop(component) else "not running")
        return 0
    running = read_state(component)
    if running is None:
        print("not running")
        return 1
    print(json.dumps(running, indent=2))
    return 0
