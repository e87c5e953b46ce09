#!/usr/bin/env bash
# The demo: a local broker, sample data in a topic, a backup of it to a local folder, and the result.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=tests
UV=scripts/uv
out=demo-output
mkdir -p "$out"
bootstrap=$($UV run --quiet python -m rig kafka start)
echo "Kafka broker (KRaft, Apache Kafka from Maven Central) at $bootstrap"
$UV run --quiet python - "$bootstrap" <<'PY'
import sys
from rig import datagen
bootstrap = sys.argv[1]
datagen.ensure_topic(bootstrap, "demo-orders", 3)
n = datagen.produce(bootstrap, "demo-orders", 50_000, value_size=512)
print(f"produced {n:,} sample records (JSON order events, ~512 B) to topic demo-orders")
PY
cat > "$out/backup.yaml" <<YAML
backup_id: demo-$(date +%Y%m%d-%H%M%S)
source:
  bootstrap_servers: $bootstrap
topics:
  include: ["demo-*"]
storage:
  url: file://$PWD/$out/backups
compression:
  codec: zstd
  level: 3
YAML
echo
echo "\$ kafka-backup backup --config $out/backup.yaml --metrics-output $out/metrics.prom"
$UV run --quiet kafka-backup backup --config "$out/backup.yaml" --metrics-output "$out/metrics.prom" --log-level warning
echo
if $UV run --quiet kafka-backup --help | grep -q "  describe"; then
  echo "\$ kafka-backup describe --config $out/backup.yaml"
  $UV run --quiet kafka-backup describe --config "$out/backup.yaml" || true
  echo
fi
echo "Segments (Apache Parquet, readable by any Parquet tool):"
find "$out/backups" -name '*.parquet' | sort | head -5
echo
echo "Some of the metrics (full set in $out/metrics.prom):"
grep -E '^kafka_backup_(records_total|compression_ratio|segments_total)' "$out/metrics.prom" | head -6
echo
echo "The broker keeps running for you to explore (bootstrap $bootstrap). Stop it with: make kafka-stop"
