#!/usr/bin/env bash
# The demo: a local broker, sample data in a topic, a backup of it to a local folder, and the result.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=tests
UV=scripts/uv
bootstrap=$($UV run --quiet python -m rig kafka start)
echo "Kafka broker (KRaft, Apache Kafka from Maven Central) at $bootstrap"
$UV run --quiet python - "$bootstrap" <<'PY'
import sys
from rig import datagen
bootstrap = sys.argv[1]
datagen.ensure_topic(bootstrap, "demo-orders", 3)
n = datagen.produce(bootstrap, "demo-orders", 20_000, value_size=512)
print(f"produced {n:,} sample records to topic demo-orders")
PY
echo "Stop the broker with: make kafka-stop"
