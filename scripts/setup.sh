#!/usr/bin/env bash
# What a fresh machine needs, idempotent. Two levels:
#   scripts/setup.sh          the demo's needs: uv (from PyPI), Java and Maven, the Python workspace, the Kafka jars
#   scripts/setup.sh --test   also the test rig: promtool, kcat and zstd (Debian), the OpenTelemetry Collector and the
#                             storage servers (MinIO, fake-gcs-server, Azurite), built or fetched into .cache/
# `make demo` runs the first, `make test` the second, so a newcomer sees a backup before the test rig is built.
set -euo pipefail
cd "$(dirname "$0")/.."
level=demo
[ "${1:-}" = "--test" ] && level=test

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
# the engine's native extension (packages/engine/rust): cargo from rustup, cmake and g++ for librdkafka's build
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(g++)
# librdkafka 2.12's cmake build includes curl/curl.h even with WITH_CURL=0
echo '#include <curl/curl.h>' | cc -E - >/dev/null 2>&1 || need_apt+=(libcurl4-openssl-dev)
# librdkafka links the system zstd and zlib (found with pkg-config; their runtime libraries come with every Debian)
# instead of building bundled copies: a quarter less of the cold build
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
echo '#include <zstd.h>' | cc -E - >/dev/null 2>&1 || need_apt+=(libzstd-dev)
echo '#include <zlib.h>' | cc -E - >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
if ! command -v cargo >/dev/null && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
cargo_version=$(cargo --version 2>/dev/null | awk '{print $2}' || true)
if [ -z "$cargo_version" ] || [ "$(printf '%s\n' 1.85.0 "$cargo_version" | sort -V | head -1)" != 1.85.0 ]; then
  echo "error: the native extension needs cargo >= 1.85 (found: ${cargo_version:-none}); install it with rustup: https://rustup.rs" >&2
  exit 1
fi
if [ "$level" = test ]; then
  command -v promtool >/dev/null || need_apt+=(prometheus)
  command -v kcat >/dev/null || need_apt+=(kcat)
  command -v zstd >/dev/null || need_apt+=(zstd)  # the bench's compressed-dump peer (kcat -C | zstd -1)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing system packages: ${need_apt[*]} (install them with apt-get as root)" >&2; exit 1
  fi
  echo "installing system packages: ${need_apt[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1
  # the Debian prometheus package starts a server we do not want; tests start their own
  if systemctl list-units >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  pkill -x prometheus 2>/dev/null || true
fi

# The Kafka jars come from Maven Central (about 40 s cold) while uv builds the workspace (the engine's Rust extension
# takes minutes cold): rig.kafka needs only the standard library, so the system python3 runs it beside uv.
kafka_log=$(mktemp)
PYTHONPATH=tests python3 -c '
import sys
from rig.kafka import RigError, kafka_lib_dir
try:
    kafka_lib_dir()
except RigError as exc:
    sys.exit(f"error: {exc}")
' >"$kafka_log" 2>&1 &
kafka_fetch=$!
trap 'kill $kafka_fetch 2>/dev/null || true; rm -f "$kafka_log"' EXIT
# reinstalling the three workspace packages (the engine's Rust extension builds incrementally in .cache/cargo-target) is cheap and avoids stale editable builds from the uv cache
# bytecode ahead of time (--compile-bytecode for the installed libraries, compileall for our sources): where
# PYTHONDONTWRITEBYTECODE is set, as on these machines, every start would compile all it imports again (0.8 s of
# a 10-record backup's 2.6 s, and of every CLI call the tests make)
scripts/uv sync --all-packages --locked --quiet --compile-bytecode \
  --reinstall-package kafka-backup --reinstall-package kafka-backup-engine --reinstall-package kafka-backup-telemetry
scripts/uv run --quiet python -m compileall -q -j 0 packages tests bench dashboards scripts >/dev/null
if ! wait "$kafka_fetch"; then
  cat "$kafka_log" >&2  # the rig's one-line error (a missing tool, or mvn's own output when the download failed)
  exit 1
fi

[ "$level" = test ] || exit 0

# The OpenTelemetry Collector the observability tests run, built with its builder from the Go module proxy into
# .cache/bin/otelcol-kafka-backup (skipped when the binary matches collector/builder-config.yaml and the Go version).
# Cold (empty module and build caches) 3.5-6.5 minutes on 2 cores, warm a few seconds, cached under a second.
if command -v go >/dev/null; then
  PYTHONPATH=tests scripts/uv run --quiet python -m rig otelcol build
else
  echo "warning: Go is not installed; the OpenTelemetry Collector tests will fail (install Go 1.24+)" >&2
fi

# Storage servers for the contract tests (tests/rig/storage.py): MinIO and fake-gcs-server built with `go install`
# from the Go module proxy into .cache/bin, Azurite installed with `npm ci` into .cache/node. Each is skipped when the
# cached build matches its pinned version (see docs/storage.md for cold and warm times).
PYTHONPATH=tests scripts/uv run --quiet python -m rig storage install
