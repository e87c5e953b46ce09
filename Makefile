# The two commands a new user needs: `make demo` and `make test`. Everything else is a building block.
SHELL := /bin/bash
UV := scripts/uv
RIG := PYTHONPATH=tests $(UV) run --quiet python -m rig

.PHONY: setup setup-test demo test check lint typecheck unit kafka-start kafka-stop kafka-status bench otelcol dashboards dashboards-check rules-check observability

# setup: what the demo needs (Python workspace, Java, the Kafka jars); setup-test: also the test rig's servers
setup:
	@scripts/setup.sh

setup-test:
	@scripts/setup.sh --test

demo: setup
	@scripts/demo.sh

test: setup-test check

check: lint typecheck unit

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	cd packages/engine && cargo clippy --all-targets -- -D warnings

typecheck:
	$(UV) run mypy packages tests dashboards/generate.py

unit:
	$(UV) run pytest

kafka-start: setup
	@$(RIG) kafka start

kafka-stop:
	@$(RIG) kafka stop

kafka-status:
	@$(RIG) kafka status

# --- observability: dashboards, Prometheus rules, the OpenTelemetry Collector ---------------------------------------
otelcol:
	@$(RIG) otelcol build

dashboards:
	$(UV) run python dashboards/generate.py

dashboards-check:
	$(UV) run python dashboards/generate.py --check

rules-check:
	promtool check rules dashboards/prometheus/*.yaml
	cd tests/observability && promtool test rules alert-rules.test.yaml

observability: setup-test
	$(UV) run pytest tests/observability

# Benchmarks against kcat and Kafka's perf tools (not part of `make test`); see docs/performance.md.
# BENCH_SCALE=0.05 for a smoke run of a few minutes; BENCH_ROUNDS, BENCH_CASES, BENCH_BOOTSTRAP as in `python -m bench -h`.
BENCH_SCALE ?= 1
BENCH_ROUNDS ?= 3
.PHONY: bench
bench: setup-test
	PYTHONPATH=tests:. $(UV) run --quiet python -m bench --scale $(BENCH_SCALE) --rounds $(BENCH_ROUNDS)

# The Parquet writer's choices (bench/parquet_choices.py): CPU s/GB and size of each variant of the segment encode on
# the bench's records, built in memory (no Kafka, a few minutes); BENCH_PARQUET_RECORDS 1 KB records, 2.5x as many 100 B.
BENCH_PARQUET_RECORDS ?= 200000
.PHONY: bench-parquet
bench-parquet: setup
	PYTHONPATH=. $(UV) run --quiet python -m bench.parquet_choices --records $(BENCH_PARQUET_RECORDS) \
	  --json bench-results/parquet-choices-$$(date +%Y%m%d-%H%M%S).json

# Where the backup's CPU goes (bench/cpu_breakdown.py): CPU s per GB of payload of each stage in isolation (consume,
# Parquet encode, zstd-1, SHA-256, store write) beside the full backup and the kcat floor, on bench's data sets at
# BENCH_SCALE, the minimum of BENCH_ROUNDS rounds; starts its own broker (BENCH_BOOTSTRAP to use a running one).
.PHONY: bench-breakdown
bench-breakdown: setup-test
	PYTHONPATH=tests:. $(UV) run --quiet python -m bench.cpu_breakdown --scale $(BENCH_SCALE) --rounds $(BENCH_ROUNDS) \
	  --json bench-results/cpu-breakdown-$$(date +%Y%m%d-%H%M%S).json

# --- storage servers (docs/storage.md): MinIO for S3, fake-gcs-server for GCS, Azurite for Azure Blob ---------------
.PHONY: storage-install storage-test s3-start s3-stop s3-status gcs-start gcs-stop gcs-status azure-start azure-stop azure-status
storage-install:
	@$(RIG) storage install

storage-test: setup-test
	$(UV) run pytest tests/storage

s3-start gcs-start azure-start: setup-test
	@$(RIG) $(@:-start=) start

s3-stop gcs-stop azure-stop:
	@$(RIG) $(@:-stop=) stop

s3-status gcs-status azure-status:
	@$(RIG) $(@:-status=) status
