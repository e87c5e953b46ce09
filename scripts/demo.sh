#!/usr/bin/env bash
# The demo: a local broker, sample data in a topic, a backup of it to a local folder, a describe, a restore into a
# renamed topic verified record by record against the source, and the run's metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=tests
UV=scripts/uv
out=demo-output
run=$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
kb() { $UV run --quiet kafka-backup "$@"; }

bootstrap=$($UV run --quiet python -m rig kafka start)
echo "Kafka broker (KRaft, Apache Kafka from Maven Central) at $bootstrap"
$UV run --quiet python - "$bootstrap" <<'PY'
import sys
from kafka_backup.engine.testing import DataSet, fill
data = DataSet("demo-orders", partitions=3, records=50_000, value_size=512)
fill(sys.argv[1], data)
print(f"topic demo-orders holds {data.records:,} sample records (JSON order events of 512 B, a key, two headers)")
PY
cat > "$out/backup.yaml" <<YAML
backup_id: demo-$run
source:
  bootstrap_servers: $bootstrap
topics:
  include: ["demo-orders"]
storage:
  url: file://$PWD/$out/backups
compression:
  codec: zstd
  level: 1
YAML
restored="demo-orders.restored-$run"

echo
echo "\$ kafka-backup backup --config $out/backup.yaml --metrics-output $out/backup.prom"
kb backup --config "$out/backup.yaml" --metrics-output "$out/backup.prom" --log-level error
echo
echo "\$ kafka-backup describe --config $out/backup.yaml"
kb describe --config "$out/backup.yaml"
echo
echo "\$ kafka-backup restore --backup-id demo-$run --storage-url file://$PWD/$out/backups --bootstrap-servers $bootstrap --topic-map demo-orders=$restored"
kb restore --backup-id "demo-$run" --storage-url "file://$PWD/$out/backups" --bootstrap-servers "$bootstrap" \
  --topic-map "demo-orders=$restored" --metrics-output "$out/restore.prom" --no-progress --log-level error
echo
echo "Verifying $restored against demo-orders, record by record (keys, values, headers, timestamps):"
$UV run --quiet python - "$bootstrap" "$restored" <<'PY'
import sys
from rig.tricky import read_topic
bootstrap, restored = sys.argv[1], sys.argv[2]
def strip(rows):  # the topic name differs by design; everything else must be identical, in order, per partition
    return [row[1:] for row in rows]
source, target = read_topic(bootstrap, "demo-orders"), read_topic(bootstrap, restored)
if strip(source) != strip(target):
    sys.exit(f"MISMATCH: {len(source):,} source records, {len(target):,} restored, contents differ")
print(f"identical: {len(target):,} records in {len({r[1] for r in target})} partitions")
PY
echo
echo "Segments (Apache Parquet, readable by any Parquet tool):"
find "$out/backups/demo-$run" -name '*.parquet' | sort | head -3
echo
echo "Some of the metrics (full sets in $out/backup.prom and $out/restore.prom):"
grep -hE '^kafka_(backup_records_total|backup_compression_ratio|backup_segments_total|restore_records_total)\{' \
  "$out/backup.prom" "$out/restore.prom" | head -8
echo
echo "The broker keeps running for you to explore (bootstrap $bootstrap). Stop it with: make kafka-stop"
