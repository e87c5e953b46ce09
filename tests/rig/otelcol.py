"""An OpenTelemetry Collector built with the collector builder (ocb) from ``collector/builder-config.yaml``.

Build (``python -m rig otelcol build``, run by ``scripts/setup.sh``): install the builder at the manifest's
``dist.version`` from the Go module proxy, generate the distribution's sources, resolve modules, compile, and copy the
binary to ``.cache/bin/otelcol-kafka-backup``. A stamp next to it records the manifest's hash and the Go version; a
build with an unchanged manifest is skipped.

Module resolution is ``go mod tidy -e`` instead of the builder's own ``go mod tidy``: tidy also wants the modules that
only the *tests* of a component import, and the proxy here does not serve one of them for v0.155.0 (the file
exporter's tests import ``extension/encoding/otlpencodingextension``). ``-e`` records everything it can resolve; the
collector's own import graph is complete, so the build is unaffected.

Run: :class:`Collector` starts the binary with a config (YAML written to its work dir), logs to ``collector.log``, and
waits until the ``health_check`` extension answers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rig.kafka import CACHE_DIR, REPO_ROOT, RigError, free_ports, require_tool, stop_process, tail

MANIFEST = REPO_ROOT / "collector" / "builder-config.yaml"
SHIPPED_CONFIG = REPO_ROOT / "collector" / "config.yaml"
BIN_DIR = CACHE_DIR / "bin"
BINARY = BIN_DIR / "otelcol-kafka-backup"
STAMP = BIN_DIR / "otelcol-kafka-backup.stamp"


def manifest() -> dict[str, Any]:
    body: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return body


def _stamp_value() -> str:
    go_version = subprocess.run(["go", "version"], check=True, capture_output=True, text=True).stdout.strip()
    return hashlib.sha256(MANIFEST.read_bytes() + go_version.encode()).hexdigest()


def is_built() -> bool:
    """The binary exists and was built from the current manifest with the current Go."""
    if not BINARY.exists():
        return False
    if shutil.which("go") is None:
        return True  # nothing to rebuild with; use what is there
    return STAMP.exists() and STAMP.read_text().strip() == _stamp_value()


def build(force: bool = False, log: Path | None = None) -> Path:
    """Build the collector unless an up-to-date binary is cached; return its path."""
    if not force and is_built():
        return BINARY
    go = require_tool("go", "install Go 1.24+ (https://go.dev/dl) or `apt-get install golang`")
    version = manifest()["dist"]["version"]
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    log_path = log or CACHE_DIR / "otelcol-build.log"
    ocb = BIN_DIR / f"ocb-{version}"
    out_dir = REPO_ROOT / manifest()["dist"]["output_path"]
    with log_path.open("w") as out:

        def run(
            cmd: list[str], cwd: Path = REPO_ROOT, env: dict[str, str] | None = None, may_fail: bool = False
        ) -> None:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            result = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
            if result.returncode != 0 and not may_fail:
                raise RigError(f"`{' '.join(cmd)}` failed ({result.returncode}); log:\n{tail(log_path, 40)}")

        if not ocb.exists():
            env = {**os.environ, "GOBIN": str(BIN_DIR)}
            run([go, "install", f"go.opentelemetry.io/collector/cmd/builder@v{version}"], env=env)
            (BIN_DIR / "builder").rename(ocb)
        config = str(MANIFEST.relative_to(REPO_ROOT))
        # Generating the sources also writes go.mod, then runs the builder's own `go mod tidy`, which fails on a
        # test-only module the proxy does not serve (see the module docstring): that failure is expected here, as
        # long as go.mod was written; `go mod tidy -e` below resolves everything the binary needs.
        shutil.rmtree(out_dir, ignore_errors=True)
        run([str(ocb), "--config", config, "--skip-compilation"], may_fail=True)
        if not (out_dir / "go.mod").exists():
            raise RigError(f"the collector builder wrote no go.mod; log:\n{tail(log_path, 40)}")
        run([go, "mod", "tidy", "-e"], cwd=out_dir)
        run([str(ocb), "--config", config, "--skip-generate", "--skip-get-modules"])
    built = out_dir / manifest()["dist"]["name"]
    tmp = BINARY.with_suffix(".tmp")
    shutil.copy2(built, tmp)
    tmp.replace(BINARY)
    STAMP.write_text(_stamp_value() + "\n")
    return BINARY


def binary() -> Path:
    """The built collector, or a RigError that says how to build it."""
    if not BINARY.exists():
        raise RigError(f"{BINARY} is missing: run `make otelcol` (or scripts/setup.sh)")
    return BINARY


@dataclass(frozen=True)
class Ports:
    """Loopback ports a test collector listens on."""

    grpc: int
    http: int
    prometheus: int
    health: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*free_ports(4))


def test_config(shipped: dict[str, Any], ports: Ports, file_path: Path) -> dict[str, Any]:
    """The shipped config, rewritten for a test: loopback ports, and every signal also written to ``file_path``.

    The batch processor is removed so the receiver answers an export only after the file and debug exporters have
    consumed it: what the collector logs then happened before the sender's export call returned.
    """
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(shipped))  # a deep copy
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{ports.grpc}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{ports.http}"
    config["exporters"]["prometheus"]["endpoint"] = f"127.0.0.1:{ports.prometheus}"
    config["extensions"]["health_check"]["endpoint"] = f"127.0.0.1:{ports.health}"
    config["exporters"] = {name: body for name, body in config["exporters"].items() if name in ("prometheus", "debug")}
    config["exporters"]["debug"] = {"verbosity": "basic"}
    config["exporters"]["file"] = {"path": str(file_path), "flush_interval": "100ms"}
    config["processors"].pop("batch", None)
    for name, pipeline in config["service"]["pipelines"].items():
        pipeline["processors"] = [p for p in pipeline.get("processors", []) if p != "batch"]
        exporters = [e for e in pipeline["exporters"] if e in config["exporters"]]
        pipeline["exporters"] = [*exporters, *(e for e in ("file", "debug") if e not in exporters)]
        if not name.startswith("metrics"):
            pipeline["exporters"] = [e for e in pipeline["exporters"] if e != "prometheus"]
    config["service"]["telemetry"] = {"logs": {"encoding": "json"}, "metrics": {"level": "none"}}
    return config


@dataclass
class Collector:
    """A running collector process with its work dir and log."""

    workdir: Path
    config: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "collector.log"

    def start(self, timeout_s: float = 30.0) -> Collector:
        config_path = self.workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(binary()), "--config", f"file:{config_path}"], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        health = f"http://{self.config['extensions']['health_check']['endpoint']}/"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RigError(f"collector exited with {self.process.returncode}:\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(health, timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RigError(f"collector not healthy after {timeout_s}s:\n{tail(self.log_path)}")

    def stop(self) -> None:
        stop_process(self.process)
